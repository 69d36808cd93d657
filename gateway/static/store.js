// The tab's jobs in sessionStorage: what survives a reload of this tab and nothing more.
//
// sessionStorage, not localStorage: it belongs to this tab and is gone when the tab closes,
// like the promise that nothing outlives the job. No image bytes are kept, only ids, tokens,
// file names and options; the saved-tokens file is the user's own choice.

const KEY = "picupscaler.jobs.v1";

/** Every job record of this tab, oldest first. */
export function loadJobs() {
  try {
    const records = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    return Array.isArray(records) ? records.filter((r) => r && r.id && r.token) : [];
  } catch {
    return [];
  }
}

function saveAll(records) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(records));
  } catch {
    // storage full or disabled: the jobs still work until the tab reloads
  }
}

/** Add or update one job's record (matched by id). */
export function saveJob(record) {
  const records = loadJobs();
  const at = records.findIndex((r) => r.id === record.id);
  if (at === -1) records.push(record);
  else records[at] = { ...records[at], ...record };
  saveAll(records);
}

export function forgetJob(id) {
  saveAll(loadJobs().filter((r) => r.id !== id));
}

/** The tokens that still open a job, as a JSON file's text for the user to keep. */
export function tokensFile(origin, now = new Date()) {
  const jobs = loadJobs()
    .filter((r) => !r.closed && new Date(r.expires_at) > now)
    .map((r) => ({
      id: r.id,
      token: r.token,
      file_name: r.name,
      expires_at: r.expires_at,
      status: `${origin}/v1/jobs/${r.id}`,
      result: `${origin}/v1/jobs/${r.id}/result`,
    }));
  return JSON.stringify(
    {
      service: origin,
      saved_at: now.toISOString(),
      note: "Anyone with a token can download and delete that job until it expires. Send it as 'Authorization: Bearer <token>'.",
      jobs,
    },
    null,
    2,
  );
}
