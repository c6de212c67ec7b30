// /cli-auth: hand the new token to the CLI's loopback listener once, in the frame below it.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("cli-callback-form");
  if (form) form.submit();
});
