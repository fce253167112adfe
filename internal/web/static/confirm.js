// confirm.js: a form with data-confirm="question" asks before it is sent.
// The question opens in a <dialog>; "yes" adds confirm=yes and sends the
// form, "cancel" closes the dialog and changes nothing. Without script the
// server asks the same question on a step page.
(function () {
  "use strict";
  var dialog = null, pending = null;

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.id = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-h");
    dialog.innerHTML = '<h2 id="confirm-dialog-h">Please confirm</h2><p id="confirm-dialog-q"></p>' +
      '<p class="actions"><button type="button" id="confirm-dialog-yes"></button> ' +
      '<button type="button" class="secondary" id="confirm-dialog-no">Cancel</button></p>';
    document.body.appendChild(dialog);
    dialog.querySelector("#confirm-dialog-no").addEventListener("click", function () {
      pending = null;
      dialog.close();
    });
    dialog.querySelector("#confirm-dialog-yes").addEventListener("click", function () {
      var form = pending;
      pending = null;
      dialog.close();
      if (!form) return;
      var yes = document.createElement("input");
      yes.type = "hidden";
      yes.name = "confirm";
      yes.value = "yes";
      form.appendChild(yes);
      form.submit();
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (typeof HTMLDialogElement !== "function") return; // the step page asks instead
    ev.preventDefault();
    if (!dialog) build();
    pending = form;
    dialog.querySelector("#confirm-dialog-q").textContent = form.dataset.confirm;
    dialog.querySelector("#confirm-dialog-yes").textContent = form.dataset.confirmButton || "Confirm";
    dialog.showModal();
    dialog.querySelector("#confirm-dialog-yes").focus();
  });
})();
