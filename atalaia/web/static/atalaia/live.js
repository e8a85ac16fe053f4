// Live timeline: new entries arrive over Server-Sent Events as HTML rendered
// (and escaped) by the server; EventSource reconnects and resumes by id.
(function () {
  var list = document.getElementById("timeline");
  if (!list || !window.EventSource) return;
  var dot = document.getElementById("live-dot");
  var source = new EventSource(list.dataset.stream + "?after=" + list.dataset.after);
  source.addEventListener("open", function () { if (dot) dot.classList.add("on"); });
  source.addEventListener("error", function () { if (dot) dot.classList.remove("on"); });
  source.addEventListener("entry", function (event) {
    var html = JSON.parse(event.data);
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var item = template.content.firstElementChild;
    if (!item || document.getElementById(item.id)) return;
    list.insertBefore(item, list.firstChild);
  });
})();
