(function () {
  // Atalaia's crisis banner: shows an active incident with a link to its tracking page.
  var lang = {{ lang|safe }} || (navigator.language || "en");
  var url = "{{ json_url|escapejs }}?lang=" + encodeURIComponent(lang.toLowerCase().indexOf("pt") === 0 ? "pt-br" : "en");
  fetch(url, {credentials: "omit"}).then(function (r) { return r.json(); }).then(function (data) {
    if (!data.active) { return; }
    var bar = document.createElement("a");
    bar.id = "atalaia-banner";
    bar.href = data.url;
    bar.textContent = data.status + ": " + data.title;  // text, never markup
    bar.style.cssText = "display:block;padding:8px 16px;color:#fff;font:14px/1.4 system-ui,sans-serif;text-decoration:none;background:" +
      ({critical: "#b42318", major: "#dc6803", minor: "#b54708"}[data.impact] || "#b42318");
    document.body.insertBefore(bar, document.body.firstChild);
  }).catch(function () {});
})();
