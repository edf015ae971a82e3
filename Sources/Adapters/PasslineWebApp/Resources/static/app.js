// Passline staff app: the little JavaScript that helps. Everything works without it.
(function () {
  "use strict";
  // A barcode scanner types into the focused field and presses Enter: keep the scan field
  // focused on the front desk page, unless staff are typing elsewhere.
  var code = document.getElementById("code");
  if (code) {
    code.focus();
    document.addEventListener("keydown", function (event) {
      var active = document.activeElement;
      var typing = active && (active.tagName === "INPUT" || active.tagName === "SELECT" || active.tagName === "TEXTAREA");
      if (!typing && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) { code.focus(); }
    });
  }
  // A form sent twice (a double tap) would be refused as a repeat anyway; disable it at once.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[type=submit]");
    setTimeout(function () { for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; } }, 0);
  });
})();
