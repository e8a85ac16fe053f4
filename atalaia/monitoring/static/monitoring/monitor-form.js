// The monitor form: show only what applies to the chosen kind. Without this
// script every field is shown, each labelled with what it is for.
(function () {
  "use strict";
  var kind = document.getElementById("id_kind");
  if (!kind) { return; }
  function show() {
    var heartbeat = kind.value === "heartbeat";
    // style.display, not `hidden`: the console's CSS gives rows and buttons a display.
    document.querySelectorAll("[data-checks-only]").forEach(function (el) {
      el.style.display = heartbeat ? "none" : "";
    });
    document.querySelectorAll("[data-heartbeat-only]").forEach(function (el) {
      el.style.display = heartbeat ? "" : "none";
    });
    document.querySelectorAll("[data-kind-keys]").forEach(function (el) {
      el.style.display = el.getAttribute("data-kind-keys") === kind.value ? "" : "none";
    });
  }
  kind.addEventListener("change", show);
  show();
})();
