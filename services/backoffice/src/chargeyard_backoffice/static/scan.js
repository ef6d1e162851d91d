// The connector's QR code from a photo (on a phone the file input opens the camera), decoded
// here by jsQR; the code's text goes into the form, which posts it to the app.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("qr-photo");
  const code = document.getElementById("qr-code");
  const result = document.getElementById("scan-result");
  const form = document.getElementById("scan-form");
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const found = jsQR(pixels.data, pixels.width, pixels.height);
    if (!found) {
      result.textContent = "No QR code found in the photo";
      return;
    }
    code.value = found.data;
    result.textContent = found.data;
    form.requestSubmit();
  });
});
