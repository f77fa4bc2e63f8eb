// resntk book: what a reader's browser does besides the theme.
(function () {
  "use strict";

  // On paper every proof and every solution is open: the reader folds them on screen, not in print.
  function openEverything() {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    document.querySelectorAll(".toggle-hidden").forEach(function (e) { e.classList.remove("toggle-hidden"); });
  }
  window.resntkOpenEverything = openEverything;
  window.addEventListener("beforeprint", openEverything);

  // A figure opens at full size in a new tab on click, where a phone can zoom into it.
  function enlargeableFigures() {
    document.querySelectorAll("figure img, div.cell_output img").forEach(function (img) {
      if (img.closest("a")) { return; }
      img.classList.add("resntk-enlargeable");
      img.title = "Open the figure at full size";
      img.addEventListener("click", function () { window.open(img.currentSrc || img.src, "_blank"); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enlargeableFigures);
  } else {
    enlargeableFigures();
  }
})();
