// Plain words for what the API names in code: models, stages, sizes, durations, file names.

/** What people call each built-in model, and when to choose it; operator models keep their
 * own description. */
const MODEL_WORDS = {
  auto: ["Let the service decide", "It looks at the image and picks the photo or the drawing model."],
  "realesrgan-x4plus": ["Photo", "Real-world pictures: the most detail, the slowest."],
  "realesrgan-x4plus-anime": ["Drawing or anime", "Clean lines and flat colours."],
  "realesr-animevideov3": ["Drawing, fast", "Drawings and anime, quicker, a little less detail."],
};

/** A model's short name for the list ("Photo"); model is a name or a GET /v1/models entry. */
export function modelLabel(model) {
  const name = typeof model === "string" ? model : model.name;
  if (MODEL_WORDS[name]) return MODEL_WORDS[name][0];
  return typeof model === "string" ? model : model.description || model.name;
}

/** When to choose the model, in a sentence, with its technical name for those who know it. */
export function modelHint(model) {
  const name = typeof model === "string" ? model : model.name;
  const words = MODEL_WORDS[name]?.[1];
  if (!words) return "";
  return typeof model === "string" || !model.description ? words : `${words} (${model.description.replace(/[.:].*$/, "")})`;
}

export function scaleLabel(scale) {
  if (scale === 1) return "1× (same size, clean up)";
  if (scale === 2) return "2× (double)";
  if (scale === 4) return "4× (recommended)";
  return `${scale}×`;
}

export const FORMAT_WORDS = { png: "PNG", jpeg: "JPEG", webp: "WebP" };

/** Stages a worker may report, in words; an unknown one is shown with its underscores spaced. */
const STAGE_WORDS = {
  queued: "Waiting in line",
  uploading: "Uploading",
  starting: "Starting",
  loading: "Loading the model",
  loading_model: "Loading the model",
  decoding: "Reading your image",
  reading: "Reading your image",
  analysing: "Looking at your image",
  upscaling: "Upscaling",
  running: "Upscaling",
  resizing: "Resizing to the size you asked",
  faces: "Restoring faces",
  face_enhance: "Restoring faces",
  encoding: "Saving the result",
  saving: "Saving the result",
  storing: "Saving the result",
  succeeded: "Done",
  failed: "Failed",
};

export function stageLabel(stage) {
  if (!stage) return "Upscaling";
  return STAGE_WORDS[stage] || stage.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

export function bytesLabel(bytes) {
  if (bytes < 1000) return `${bytes} bytes`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** "about 40 s", "about 3 min", for a time left. */
export function durationLabel(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `about ${Math.max(s, 1)} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `about ${m} min`;
  return `about ${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The countdown to automatic deletion: minutes when far, seconds in the last two minutes. */
export function countdownLabel(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function timeLabel(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** The download's name: the original's name with the scale, e.g. photo.jpg at 4× → photo_x4.png. */
export function resultFileName(originalName, scale, format) {
  const base = (originalName || "image").replace(/\.[^.]*$/, "") || "image";
  return `${base}_x${scale}.${format === "jpeg" ? "jpg" : format}`;
}
