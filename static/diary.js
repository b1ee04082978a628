/* Vinova diary day: the "show all hours" toggle and the screenshot viewer (arrows, Escape).
   Loaded by templates/diary_day.html; no inline script (CSP script-src 'self'). */
(function () {
  "use strict";

  function setUpFolding() {
    var button = document.getElementById("toggle-hours");
    if (!button) { return; }
    var folds = Array.prototype.slice.call(document.querySelectorAll("details.fold"));
    function sync() {
      var allOpen = folds.every(function (fold) { return fold.open; });
      button.textContent = allOpen ? button.dataset.hide : button.dataset.show;
      button.setAttribute("aria-pressed", allOpen ? "true" : "false");
    }
    button.addEventListener("click", function () {
      var open = !folds.every(function (fold) { return fold.open; });
      folds.forEach(function (fold) { fold.open = open; });
      sync();
    });
    folds.forEach(function (fold) { fold.addEventListener("toggle", sync); });
  }

  function setUpViewer() {
    var viewer = document.getElementById("viewer");
    if (!viewer) { return; }
    var links = Array.prototype.slice.call(document.querySelectorAll("#diary-day a.thumb"));
    var image = document.getElementById("viewer-image");
    var caption = document.getElementById("viewer-caption");
    var position = document.getElementById("viewer-position");
    var openLink = document.getElementById("viewer-open");
    var current = -1;
    var opener = null;

    function show(index) {
      if (!links.length) { return; }
      current = (index + links.length) % links.length;
      var link = links[current];
      var fold = link.closest("details.fold");
      if (fold) { fold.open = true; }
      image.src = link.getAttribute("href");
      image.alt = link.querySelector("img").alt;
      caption.textContent = link.dataset.caption;
      position.textContent = (current + 1) + " / " + links.length;
      openLink.href = link.getAttribute("href");
      viewer.dataset.index = String(current);
      document.querySelectorAll("figure.shot.current").forEach(function (figure) {
        figure.classList.remove("current");
      });
      link.closest("figure.shot").classList.add("current");
    }

    function open(index, from) {
      opener = from || null;
      viewer.hidden = false;
      document.body.classList.add("viewing");
      show(index);
      document.getElementById("viewer-close").focus();
    }

    function close() {
      viewer.hidden = true;
      document.body.classList.remove("viewing");
      image.removeAttribute("src");
      if (opener) { opener.focus(); }
    }

    links.forEach(function (link, index) {
      link.addEventListener("click", function (event) {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
        event.preventDefault();
        open(index, link);
      });
    });
    document.getElementById("viewer-previous").addEventListener("click", function () { show(current - 1); });
    document.getElementById("viewer-next").addEventListener("click", function () { show(current + 1); });
    document.getElementById("viewer-close").addEventListener("click", close);
    viewer.addEventListener("click", function (event) {
      if (event.target === viewer) { close(); }
    });
    document.addEventListener("keydown", function (event) {
      if (viewer.hidden) { return; }
      if (event.key === "Escape") { event.preventDefault(); close(); }
      else if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
      else if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
    });
  }

  function start() {
    setUpFolding();
    setUpViewer();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
