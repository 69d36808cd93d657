// The upload page: choosing images (drop, paste, picker), options, uploading once, the job list.

import { call, newIdempotencyKey, uploadJob } from "./api.js";
import { JobCard } from "./jobcard.js";
import { loadJobs, tokensFile } from "./store.js";
import { bytesLabel, modelHint, modelLabel, scaleLabel } from "./words.js";

const $ = (id) => document.getElementById(id);
const form = $("upload");
const pendingList = $("pending");
const jobsList = $("jobs");
/** Files chosen but not uploaded yet: {file, key, url, el}. */
let pending = [];
/** Every job card of this tab, in the order shown. */
const cards = [];
let submitting = false;
let modelInfo = { models: [], max_scale: 8 };
let scaleTouched = false;

/** Say something to screen readers (the visible text changes beside it). */
function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  // A new text node in the next frame is read even when the words repeat.
  requestAnimationFrame(() => { region.textContent = text; });
}

/** A message under the form: kind "error" only for what went wrong, "info" otherwise. */
function formMessage(text, kind = "info") {
  const el = $("form-message");
  el.hidden = !text;
  el.textContent = text || "";
  el.classList.toggle("error", kind === "error");
  el.setAttribute("role", kind === "error" ? "alert" : "status");
}

// ---- options ---------------------------------------------------------------------------

async function loadModels() {
  const select = $("model");
  try {
    modelInfo = await (await call("/v1/models")).json();
  } catch (error) {
    select.replaceChildren(new Option("The service's default", ""));
    formMessage(`The list of models could not be loaded (${error.message}); the default model will be used.`, "error");
    fillScales(4);
    return;
  }
  const models = [...modelInfo.models].sort((a, b) => (b.name === modelInfo.default) - (a.name === modelInfo.default));
  const options = models.map((m) => new Option(modelLabel(m), m.name));
  if (modelInfo.auto) options.push(new Option(modelLabel(modelInfo.auto), modelInfo.auto));
  select.replaceChildren(...options);
  select.value = modelInfo.default;
  $("face-field").hidden = !modelInfo.face_enhance_available;
  fillScales(defaultScale());
  showModelHint();
}

function defaultScale() {
  const model = modelInfo.models.find((m) => m.name === $("model").value);
  return model ? model.default_scale : 4;
}

function fillScales(selected) {
  const max = modelInfo.max_scale || 8;
  const options = [];
  for (let s = 1; s <= max; s++) options.push(new Option(scaleLabel(s), String(s), false, s === selected));
  $("scale").replaceChildren(...options);
  updateOutputSizes();
}

function showModelHint() {
  const name = $("model").value;
  const model = modelInfo.models.find((m) => m.name === name) || name;
  $("model-hint").textContent = modelHint(model);
}

$("model").addEventListener("change", () => {
  if (!scaleTouched) fillScales(defaultScale());
  showModelHint();
});
$("scale").addEventListener("change", () => {
  scaleTouched = true;
  updateOutputSizes();
});
$("output_format").addEventListener("change", () => {
  $("quality-field").hidden = $("output_format").value === "png"; // PNG is lossless
});

// ---- the analytics opt-out (a cookie the gateway reads; nothing else is stored) --------

const OPT_OUT = "pu_analytics_opt_out";
$("optout").checked = document.cookie.split("; ").includes(`${OPT_OUT}=1`);
$("optout").addEventListener("change", () => {
  document.cookie = $("optout").checked
    ? `${OPT_OUT}=1; Max-Age=31536000; Path=/; SameSite=Strict`
    : `${OPT_OUT}=; Max-Age=0; Path=/; SameSite=Strict`;
});

// ---- choosing files --------------------------------------------------------------------

function addFiles(files) {
  const images = [...files].filter((f) => f.type === "" || f.type.startsWith("image/"));
  const others = [...files].filter((f) => !images.includes(f));
  for (const file of images) {
    const item = { file, key: newIdempotencyKey(), url: URL.createObjectURL(file) };
    item.el = $("pending-template").content.firstElementChild.cloneNode(true);
    const thumb = item.el.querySelector(".thumb");
    thumb.src = item.url;
    // A file the browser cannot show (TIFF, or not an image at all): a plain tile, no broken icon.
    thumb.addEventListener("error", () => thumb.removeAttribute("src"), { once: true });
    thumb.addEventListener("load", () => {
      item.size = [thumb.naturalWidth, thumb.naturalHeight];
      updateOutputSizes();
    });
    item.el.querySelector(".file-name").textContent = file.name || "pasted image";
    const remove = item.el.querySelector(".remove");
    remove.setAttribute("aria-label", `Remove ${file.name || "pasted image"}`);
    remove.addEventListener("click", () => removePending(item));
    pending.push(item);
    pendingList.append(item.el);
  }
  updateOutputSizes();
  if (others.length) {
    formMessage(`Not an image, so not added: ${others.map((f) => f.name).join(", ")}.`, "error");
  } else if (images.length) {
    formMessage("");
    announce(`${images.length === 1 ? "1 image" : `${images.length} images`} ready to upload.`);
  }
}

function removePending(item) {
  const at = pending.indexOf(item);
  pending = pending.filter((p) => p !== item);
  URL.revokeObjectURL(item.url);
  item.el.remove();
  // Focus goes to the next Remove button, or back to the picker when the list is empty.
  const next = pending[at] || pending[at - 1];
  (next ? next.el.querySelector(".remove") : $("file")).focus();
  announce(`${item.file.name || "pasted image"} removed.`);
}

function updateOutputSizes() {
  const scale = Number($("scale").value) || 4;
  for (const item of pending) {
    const facts = [bytesLabel(item.file.size)];
    if (item.size) facts.push(`${item.size[0]} × ${item.size[1]} → ${item.size[0] * scale} × ${item.size[1] * scale}`);
    item.el.querySelector(".file-facts").textContent = facts.join(" · ");
  }
}

$("file").addEventListener("change", () => {
  addFiles($("file").files);
  $("file").value = ""; // choosing the same file again must fire change again
});

const dropzone = $("dropzone");
// Files dropped anywhere on the page are taken, never opened by the browser in place.
document.addEventListener("dragover", (event) => {
  if (!event.dataTransfer?.types.includes("Files")) return;
  event.preventDefault();
  dropzone.classList.add("dragging");
});
document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) dropzone.classList.remove("dragging");
});
document.addEventListener("drop", (event) => {
  if (!event.dataTransfer?.files.length) return;
  event.preventDefault();
  dropzone.classList.remove("dragging");
  addFiles(event.dataTransfer.files);
});
document.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files || [])];
  if (!files.length) return; // text pasted into a field stays a text paste
  event.preventDefault();
  addFiles(files);
});

// ---- uploading -------------------------------------------------------------------------

function formOptions() {
  return {
    model: $("model").value || undefined,
    scale: Number($("scale").value) || undefined,
    output_format: $("output_format").value,
    quality: $("output_format").value === "png" ? "" : $("quality").value,
    face_enhance: !$("face-field").hidden && $("face_enhance").checked,
  };
}

function formData(file, options) {
  const body = new FormData();
  body.append("file", file, file.name || "pasted-image");
  if (options.model) body.append("model", options.model);
  if (options.scale) body.append("scale", String(options.scale));
  body.append("output_format", options.output_format);
  if (options.quality) body.append("quality", options.quality);
  if (options.face_enhance) body.append("face_enhance", "true");
  return body;
}

/** Upload one chosen file into its card; the same idempotency key on every retry. */
async function upload(card, item, options) {
  card.retrying();
  try {
    const body = await uploadJob(formData(item.file, options), {
      idempotencyKey: item.key,
      onProgress: (fraction) => card.uploading(fraction),
    });
    card.accepted(body);
  } catch (error) {
    card.refused(error, () => upload(card, item, options));
  }
  pageChanged();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  // One click, one job per file: the batch leaves `pending` before anything awaits, so a
  // second click (or Enter) finds nothing to send.
  if (submitting) return;
  if (!pending.length) {
    formMessage("Choose at least one image first.", "error");
    $("file").focus();
    return;
  }
  if (!$("age").checked) {
    formMessage("Please confirm that you are 13 or older.", "error");
    $("age").focus();
    return;
  }
  submitting = true;
  $("submit").setAttribute("aria-disabled", "true");
  const batch = pending;
  pending = [];
  const options = formOptions();
  formMessage("");
  const jobs = batch.map((item) => {
    item.el.remove();
    const card = new JobCard({ name: item.file.name || "pasted image", options, originalUrl: item.url, page });
    addCard(card);
    return [card, item];
  });
  announce(`Uploading ${batch.length === 1 ? "1 image" : `${batch.length} images`}.`);
  try {
    // One upload at a time: the first job starts sooner and the rate limit is spared.
    for (const [card, item] of jobs) await upload(card, item, options);
  } finally {
    submitting = false;
    $("submit").removeAttribute("aria-disabled");
  }
});

// ---- the job list ----------------------------------------------------------------------

const page = {
  announce,
  confirmDelete,
  changed: pageChanged,
  removed(card) {
    const at = cards.indexOf(card);
    cards.splice(at, 1);
    card.el.remove();
    pageChanged();
    // Focus goes to the next job, or to the picker when the list is gone.
    const next = cards[at] || cards[at - 1];
    (next ? next.el : $("file")).focus();
    announce(`${card.name} removed from the list.`);
  },
};

function addCard(card) {
  cards.push(card);
  jobsList.append(card.el);
  pageChanged();
}

function pageChanged() {
  $("jobs-section").hidden = cards.length === 0;
  $("tokens-offer").hidden = !cards.some((c) => c.live);
}

const dialog = $("confirm-delete");
/** Ask before deleting; resolves true for "Delete now". Focus returns to the button after. */
function confirmDelete(name) {
  $("confirm-text").textContent =
    `${name} and its result will be deleted from the service now. This cannot be undone.`;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
  });
}

$("save-tokens").addEventListener("click", () => {
  const url = URL.createObjectURL(new Blob([tokensFile(location.origin)], { type: "application/json" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `picupscaler-tokens-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-")}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  announce("The tokens file is saved. Keep it private: it opens your jobs.");
});

// Leaving the page while the service still holds jobs loses their tokens: ask first.
window.addEventListener("beforeunload", (event) => {
  if (cards.some((c) => c.live) || submitting) {
    event.preventDefault();
    event.returnValue = "";
  }
});

setInterval(() => {
  const now = Date.now();
  for (const card of cards) card.tick(now);
}, 1000);

// ---- start -----------------------------------------------------------------------------

for (const record of loadJobs()) {
  const card = new JobCard({ name: record.name, options: record.options, originalUrl: null, page });
  addCard(card);
  card.restored(record);
}
$("quality-field").hidden = $("output_format").value === "png";
loadModels();
