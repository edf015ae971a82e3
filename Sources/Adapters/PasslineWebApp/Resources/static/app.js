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
  // The camera: frames go to the server as grey pixels (Chromium on Linux has no
  // BarcodeDetector), a few a second, until one holds a card's code.
  var camera = document.getElementById("camera");
  if (camera && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    camera.hidden = false;
    var video = document.getElementById("camera-video");
    var status = document.getElementById("camera-status");
    var canvas = document.createElement("canvas");
    var busy = false, done = false;
    var send = function () {
      if (done || busy || video.readyState < 2 || !video.videoWidth) { return; }
      var width = Math.min(640, video.videoWidth), height = Math.round(video.videoHeight * width / video.videoWidth);
      canvas.width = width; canvas.height = height;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0, width, height);
      var rgba = context.getImageData(0, 0, width, height).data, grey = new Uint8Array(width * height);
      for (var i = 0, j = 0; j < grey.length; i += 4, j++) { grey[j] = (rgba[i] * 77 + rgba[i + 1] * 150 + rgba[i + 2] * 29) >> 8; }
      busy = true;
      fetch("/app/desk/scan?width=" + width + "&height=" + height, {
        method: "POST", body: grey, credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": camera.getAttribute("data-csrf") }
      }).then(function (response) { return response.json(); }).then(function (answer) {
        busy = false;
        if (answer.location) { done = true; status.textContent = "Found."; window.location.assign(answer.location); }
        else if (answer.error) { status.textContent = answer.error; }
      }).catch(function () { busy = false; });
    };
    document.getElementById("camera-start").addEventListener("click", function () {
      status.textContent = "Starting the camera…";
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (stream) {
        video.srcObject = stream; video.hidden = false; video.play();
        status.textContent = "Hold the card's code up to the camera.";
        setInterval(send, 250);
      }).catch(function (error) { status.textContent = "The camera is not available: " + error.message; });
    });
  }
  // A form sent twice (a double tap) would be refused as a repeat anyway; disable it at once.
  document.addEventListener("submit", function (event) {
    var buttons = event.target.querySelectorAll("button[type=submit]");
    setTimeout(function () { for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; } }, 0);
  });
})();
