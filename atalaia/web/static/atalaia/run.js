// A run's page: poll the hosts' output while the run goes on; replay a recording.
(function () {
  var box = document.getElementById("run-hosts");
  if (!box) { return; }
  function poll() {
    fetch(box.dataset.live, {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (data) {
        document.getElementById("run-status").textContent = data.status;
        data.hosts.forEach(function (h) {
          var card = box.querySelector('.host[data-id="' + h.id + '"]');
          if (!card) { return; }
          card.querySelector(".output").textContent = h.output;  // text, never markup
          card.querySelector(".status").textContent = h.status + (h.exit === null ? "" : " (" + h.exit + ")");
        });
        if (!data.done) { setTimeout(poll, 1000); } else if (!box.dataset.reloaded) {
          box.dataset.reloaded = "1";
        }
      }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
  box.addEventListener("click", function (event) {
    var button = event.target.closest(".replay");
    if (!button) { return; }
    var out = button.closest(".host").querySelector(".output");
    fetch(button.dataset.cast, {credentials: "same-origin"}).then(function (r) { return r.text(); })
      .then(function (text) {
        var lines = text.split("\n").filter(Boolean).slice(1).map(JSON.parse);
        out.textContent = "";
        lines.forEach(function (e) {
          setTimeout(function () { out.textContent += e[2]; }, Math.min(e[0], 30) * 1000);
        });
      });
  });
})();
