// One job in the tab's list: its progress, result, comparison, download, deletion and receipt.

import { call } from "./api.js";
import { setUpComparison } from "./compare.js";
import { followJob } from "./sse.js";
import { forgetJob, saveJob } from "./store.js";
import {
  FORMAT_WORDS, bytesLabel, countdownLabel, durationLabel, modelLabel, resultFileName, stageLabel, timeLabel,
} from "./words.js";

let serial = 0;

export class JobCard {
  /**
   * name: the original file's name; options: {model, scale, output_format};
   * originalUrl: an object URL of the original (null after a reload);
   * page: {announce(text), confirmDelete(name) -> Promise<boolean>, changed(), removed(card)}.
   */
  constructor({ name, options, originalUrl, page }) {
    this.name = name;
    this.options = options;
    this.originalUrl = originalUrl;
    this.page = page;
    this.id = null;
    this.token = null;
    this.status = "uploading";
    this.closed = false; // deleted, expired or gone: nothing left to delete
    this.follower = null;
    this.resultUrl = null;
    this.shownProgress = 0;
    this.etaStart = null;

    const n = ++serial;
    this.el = document.getElementById("job-template").content.firstElementChild.cloneNode(true);
    this.$ = (selector) => this.el.querySelector(selector);
    this.$(".file-name").textContent = name;
    this.$(".file-name").id = `job-${n}-name`;
    this.el.setAttribute("aria-labelledby", `job-${n}-name`);
    this.$(".job-stage").id = `job-${n}-stage`;
    this.progress = this.$("progress");
    this.progress.setAttribute("aria-label", `Progress of ${name}`);
    this.progress.setAttribute("aria-describedby", `job-${n}-stage`);
    const thumb = this.$(".thumb");
    thumb.addEventListener("error", () => thumb.removeAttribute("src")); // no broken-image icon
    if (originalUrl) thumb.src = originalUrl;
    this.describeOptions();
    this.setProgress(0, "Waiting to upload");
    this.$(".delete").addEventListener("click", () => this.deleteNow());
    this.$(".forget").addEventListener("click", () => this.forget());
  }

  describeOptions() {
    const o = this.options || {};
    if (!o.model) return;
    this.$(".job-options").textContent =
      `${modelLabel(o.model)} · ${o.scale}× · ${FORMAT_WORDS[o.output_format] || o.output_format}`;
  }

  /** Show a line under the job; kind "error" only for what went wrong. */
  message(text, kind = "info") {
    const el = this.$(".job-message");
    el.hidden = !text;
    el.textContent = text || "";
    el.classList.toggle("error", kind === "error");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  setProgress(fraction, words) {
    if (fraction === null) {
      this.progress.removeAttribute("value"); // indeterminate: no number to show yet
    } else {
      this.progress.value = Math.round(fraction * 1000) / 10;
    }
    this.$(".job-stage").textContent = words;
    this.progress.setAttribute("aria-valuetext", words);
  }

  showActions({ retry = false, remove = false, forget = false } = {}) {
    this.$(".retry").hidden = !retry;
    this.$(".delete").hidden = !remove;
    this.$(".forget").hidden = !forget;
  }

  uploading(fraction) {
    this.setProgress(fraction, `Uploading: ${Math.round(fraction * 100)} %`);
    this.showActions();
  }

  /** The service refused the upload: its own sentence, with a retry when retrying can help. */
  refused(error, retry) {
    this.status = "refused";
    this.closed = true;
    this.setProgress(0, "Not uploaded");
    this.$(".job-progress").hidden = true;
    this.message(`Not uploaded: ${error.message}`, "error");
    const retryButton = this.$(".retry");
    retryButton.onclick = retry && error.retryable ? () => retry(this) : null;
    this.showActions({ retry: Boolean(retryButton.onclick), forget: true });
    this.page.announce(`${this.name} was not uploaded: ${error.message}`);
    this.page.changed();
  }

  /** A retry starts: back to uploading in the same card. */
  retrying() {
    // The Try again button hides now: focus stays in the card, not lost to the page.
    if (this.el.contains(document.activeElement)) this.el.focus();
    this.status = "uploading";
    this.closed = false;
    this.$(".job-progress").hidden = false;
    this.message("");
    this.uploading(0);
  }

  /** The 202 answer: keep the token in this tab, then follow the job. */
  accepted(body) {
    this.id = body.id;
    this.el.dataset.jobId = body.id;
    this.token = body.token;
    this.expiresAt = body.expires_at;
    saveJob({ id: this.id, token: this.token, name: this.name, expires_at: this.expiresAt, options: this.options });
    this.page.announce(`${this.name} uploaded; waiting in line.`);
    this.applyStatus({ status: body.status || "queued", progress: 0, expires_at: body.expires_at });
    this.follow();
  }

  /** Restore a job from this tab's storage after a reload. */
  restored(record) {
    this.id = record.id;
    this.el.dataset.jobId = record.id;
    this.token = record.token;
    this.expiresAt = record.expires_at;
    if (record.receipt) return this.showReceipt(record.receipt, { focus: false });
    if (record.closed) return this.close(record.closedWhy || "This job no longer exists.");
    this.setProgress(null, "Checking…");
    this.follow();
  }

  follow() {
    this.follower = followJob({
      id: this.id,
      token: this.token,
      handlers: {
        onStatus: (doc) => this.applyStatus(doc),
        onProgress: (data) => this.applyProgress(data),
        onGone: () => this.close("This job no longer exists: it was deleted or has expired."),
      },
    });
  }

  /** A status document (GET /v1/jobs/{id} or a `status` event). */
  applyStatus(doc) {
    if (this.closed) return;
    if (doc.expires_at) this.expiresAt = doc.expires_at;
    if (doc.options) {
      this.options = doc.options;
      this.describeOptions();
    }
    this.applyProgress(doc);
    if (doc.status === "succeeded" && doc.result && this.status !== "succeeded") this.succeeded(doc);
    if (doc.status === "failed" && this.status !== "failed") {
      this.status = "failed";
      const why = doc.error?.message || "The job failed.";
      this.setProgress(0, "Failed");
      this.message(`The upscaling failed: ${why}`, "error");
      this.page.announce(`${this.name}: the upscaling failed. ${why}`);
    }
    this.showActions({ remove: true });
    this.tick(Date.now());
  }

  /** A progress event's data (or a status document): the bar, stage, percent and time left. */
  applyProgress(data) {
    if (this.closed || this.status === "succeeded" || this.status === "failed") return;
    const status = data.status || this.status;
    if (status === "queued") {
      if (this.status === "running") return; // a stored status that lags behind the events
      this.status = "queued";
      const place = Number.isInteger(data.queue_position) ? `, number ${data.queue_position} in line` : "";
      this.setProgress(null, `Waiting in line${place}`);
      return;
    }
    if (status !== "running") return;
    if (this.status !== "running") this.page.announce(`${this.name}: upscaling started.`);
    this.status = "running";
    // Events and stored status may arrive out of step: the bar never goes backwards.
    const fraction = Math.max(this.shownProgress, Math.min(Number(data.progress) || 0, 0.999));
    this.shownProgress = fraction;
    const parts = [stageLabel(data.stage), `${Math.floor(fraction * 100)} %`];
    if (Number.isInteger(data.tile) && Number.isInteger(data.tiles)) parts.push(`part ${data.tile} of ${data.tiles}`);
    const eta = Number.isFinite(data.eta_seconds) ? data.eta_seconds : this.estimateEta(fraction);
    if (eta !== null) parts.push(`${durationLabel(eta)} left`);
    this.setProgress(fraction, parts.join(" · "));
  }

  /**
   * Time left from the rate seen so far, for when the events carry no eta_seconds: a straight
   * line through the first progress seen and now, shown once there is enough of it to mean much.
   */
  estimateEta(fraction) {
    const now = performance.now();
    if (this.etaStart === null) {
      this.etaStart = { at: now, fraction };
      return null;
    }
    const done = fraction - this.etaStart.fraction;
    const seconds = (now - this.etaStart.at) / 1000;
    if (done < 0.05 || seconds < 2) return null;
    return ((1 - fraction) * seconds) / done;
  }

  async succeeded(doc) {
    this.status = "succeeded";
    const r = doc.result;
    this.setProgress(1, `Done: ${r.width} × ${r.height} ${FORMAT_WORDS[r.format] || r.format}, ${bytesLabel(r.bytes)}`);
    if (doc.report?.resolved_model && this.options.model === "auto") {
      this.$(".job-options").textContent += ` (chosen: ${modelLabel(doc.report.resolved_model)})`;
    }
    try {
      const blob = await (await call(`/v1/jobs/${this.id}/result`, { token: this.token })).blob();
      if (this.closed) return;
      this.resultUrl = URL.createObjectURL(blob);
    } catch (error) {
      this.message(`The result could not be fetched: ${error.message}`, "error");
      return;
    }
    const fileName = resultFileName(this.name, doc.options?.scale ?? this.options.scale, r.format);
    const link = this.$(".download");
    link.href = this.resultUrl;
    link.download = fileName;
    link.textContent = `Download ${fileName} (${bytesLabel(r.bytes)})`;
    if (!this.originalUrl) this.$(".thumb").src = this.resultUrl;
    setUpComparison(this.$(".compare"), { afterUrl: this.resultUrl, beforeUrl: this.originalUrl, name: this.name });
    this.$(".job-result").hidden = false;
    this.page.announce(`${this.name} is ready to download.`);
  }

  /** Ask, then DELETE the job now and show the receipt the API returns. */
  async deleteNow() {
    if (this.deleting || this.closed) return;
    if (!(await this.page.confirmDelete(this.name))) return;
    this.deleting = true;
    try {
      const receipt = await (await call(`/v1/jobs/${this.id}`, { token: this.token, method: "DELETE" })).json();
      this.showReceipt(receipt, { focus: true });
      this.page.announce(`${this.name} and its result are deleted. The receipt is shown.`);
    } catch (error) {
      if (error.status === 404) this.close("This job no longer exists: it was deleted or has expired.");
      else this.message(`Not deleted: ${error.message}`, "error");
    } finally {
      this.deleting = false;
    }
  }

  showReceipt(receipt, { focus }) {
    this.close(null);
    this.status = "deleted";
    this.$(".job-progress").hidden = true;
    this.$(".job-expiry").hidden = true;
    this.setProgress(0, "Deleted");
    const objects = receipt.objects_deleted || [];
    const names = objects.map((o) => `${String(o.key).split("/").pop()} (${bytesLabel(o.bytes)})`);
    this.$(".receipt-time").textContent = timeLabel(receipt.deleted_at);
    this.$(".receipt-objects").textContent = `${objects.length}: ${names.join(", ")}`;
    this.$(".receipt-hash").textContent = receipt.audit_record_sha256;
    this.message("Deleted: your image and its result are gone.");
    const box = this.$(".receipt");
    box.hidden = false;
    saveJob({ id: this.id, closed: true, receipt });
    if (focus) box.focus(); // the button that had focus is gone: focus goes to what replaced it
  }

  /** Nothing is left on the service: stop following, drop the result, offer to remove the card. */
  close(why) {
    const hadFocus = this.el.contains(document.activeElement);
    this.closed = true;
    this.follower?.stop();
    if (this.resultUrl) URL.revokeObjectURL(this.resultUrl);
    this.resultUrl = null;
    this.$(".job-result").hidden = true;
    if (why) {
      this.status = "gone";
      this.$(".job-progress").hidden = true;
      this.$(".job-expiry").hidden = true;
      this.message(why);
      saveJob({ id: this.id, closed: true, closedWhy: why });
    }
    this.showActions({ forget: true });
    if (hadFocus && why) this.el.focus();
    this.page.changed();
  }

  /** Remove the card (and the token) from this tab. */
  forget() {
    this.follower?.stop();
    if (this.resultUrl) URL.revokeObjectURL(this.resultUrl);
    if (this.originalUrl) URL.revokeObjectURL(this.originalUrl);
    if (this.id) forgetJob(this.id);
    this.page.removed(this);
  }

  /** Once a second: the countdown to automatic deletion. */
  tick(now) {
    if (this.closed || !this.expiresAt) return;
    const left = new Date(this.expiresAt).getTime() - now;
    if (left <= 0) {
      this.close("Deleted automatically: its time was up.");
      return;
    }
    const text = `Deleted automatically in ${countdownLabel(left)} (at ${timeLabel(this.expiresAt)}).`;
    const el = this.$(".job-expiry");
    if (el.textContent !== text) el.textContent = text;
  }

  /** True while the service holds something of this job that the user could still delete. */
  get live() {
    return Boolean(this.token) && !this.closed;
  }
}
