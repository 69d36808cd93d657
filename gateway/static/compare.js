// The before/after comparison: the original laid over the result, cut at a line the slider
// (or a drag) moves, with zoom on the result. Styles change only through CSS custom
// properties set from script (CSSOM), which the CSP allows without 'unsafe-inline'.

/**
 * Wire one comparison figure. beforeUrl may be null (after a reload the original is no longer
 * in the page): then the result is shown alone, still zoomable.
 */
export function setUpComparison(figure, { afterUrl, beforeUrl, name }) {
  const stage = figure.querySelector(".compare-stage");
  const viewport = figure.querySelector(".compare-viewport");
  const after = figure.querySelector(".compare-after");
  const before = figure.querySelector(".compare-before");
  const slider = figure.querySelector(".compare-slider");
  const zoom = figure.querySelector(".zoom");
  const caption = figure.querySelector(".compare-caption");

  after.src = afterUrl;
  after.alt = `Upscaled result of ${name}`;
  viewport.setAttribute("aria-label", `Result of ${name}; scroll to move around when zoomed`);
  slider.setAttribute("aria-label", `Before and after: percent of ${name} shown as the original`);

  const setSplit = (percent) => {
    const value = Math.min(100, Math.max(0, percent));
    stage.style.setProperty("--split", `${value}%`);
    slider.value = String(Math.round(value));
    slider.setAttribute("aria-valuetext", `${Math.round(value)} % original, ${100 - Math.round(value)} % result`);
  };

  const withoutOriginal = (why) => {
    before.remove();
    figure.querySelector(".compare-line").remove();
    figure.querySelector(".compare-slider-label").hidden = true;
    caption.textContent = why;
  };

  if (beforeUrl) {
    before.src = beforeUrl;
    before.alt = `Original ${name}`;
    before.addEventListener("error", () =>
      withoutOriginal("Your browser cannot show the original in this format, so the result is shown alone."),
    );
    setSplit(50);
    slider.addEventListener("input", () => setSplit(Number(slider.value)));
    // Drag on the picture to move the line (fit view only: zoomed, a drag scrolls instead).
    let dragging = false;
    const fromPointer = (event) => {
      const box = stage.getBoundingClientRect();
      setSplit(((event.clientX - box.left) / box.width) * 100);
    };
    stage.addEventListener("pointerdown", (event) => {
      if (zoom.value !== "1") return;
      dragging = true;
      stage.setPointerCapture(event.pointerId);
      fromPointer(event);
    });
    stage.addEventListener("pointermove", (event) => dragging && fromPointer(event));
    stage.addEventListener("pointerup", () => { dragging = false; });
    stage.addEventListener("pointercancel", () => { dragging = false; });
  } else {
    withoutOriginal("The original is not kept after the page reloads, so the result is shown alone.");
  }

  // "Fit" shows the whole result: no wider than the page or its own pixels, no taller than
  // most of the window. Zoom multiplies that width; the viewport then scrolls.
  const fit = () => {
    if (!after.naturalWidth) return;
    const room = figure.clientWidth;
    const tall = window.innerHeight * 0.7 * (after.naturalWidth / after.naturalHeight);
    const width = Math.max(1, Math.floor(Math.min(room, after.naturalWidth, tall)));
    stage.style.setProperty("--fit", `${width}px`);
  };
  after.addEventListener("load", fit);
  new ResizeObserver(fit).observe(figure);

  zoom.addEventListener("change", () => {
    // Keep the middle of what is shown in the middle when zooming.
    const factor = Number(zoom.value);
    const centreX = (viewport.scrollLeft + viewport.clientWidth / 2) / viewport.scrollWidth;
    const centreY = (viewport.scrollTop + viewport.clientHeight / 2) / viewport.scrollHeight;
    stage.style.setProperty("--zoom", String(factor));
    figure.classList.toggle("zoomed", factor > 1);
    viewport.scrollLeft = centreX * viewport.scrollWidth - viewport.clientWidth / 2;
    viewport.scrollTop = centreY * viewport.scrollHeight - viewport.clientHeight / 2;
  });
}
