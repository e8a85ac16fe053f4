// Behaviour every console page shares, in a file: the security policy runs no inline
// script or on*= attribute.
(function () {
  // <select data-submit-on-change>: choosing an option submits its form (the language
  // picker; a <noscript> button does it without JavaScript).
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // <form data-confirm="question">: asks before a destructive submit.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
