// Small DOM helpers: build elements without innerHTML (every text from the API or the person is
// a text node), and show an API error next to the field it names.

/** `el('button', { type: 'button', onclick }, 'Pause')` */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The error element of the input whose `data-field` is `field` or the longest prefix of it. */
function errorSlot(form, field) {
  if (!field) return null;
  let best = null;
  for (const input of form.querySelectorAll('[data-field]')) {
    const name = input.dataset.field;
    const matches = field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`);
    if (matches && (!best || name.length > best.dataset.field.length)) best = input;
  }
  if (!best) return null;
  return { input: best, slot: document.getElementById(best.getAttribute('aria-errormessage')) };
}

/** Clears every field error and the form's status line. */
export function clearErrors(form) {
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const slot of form.querySelectorAll('.error')) slot.textContent = '';
}

/** Shows `message` next to the input for `field`, or in the form's status line. */
export function showError(form, field, message) {
  const found = errorSlot(form, field);
  if (found?.slot) {
    found.input.setAttribute('aria-invalid', 'true');
    found.slot.textContent = message;
    found.input.focus();
    return;
  }
  say(form, message, 'error');
}

/** The form's status line (`role=status`): progress, success or a general error. */
export function say(form, message, kind = 'info') {
  const line = form.querySelector('.status');
  if (!line) return;
  line.textContent = message;
  line.dataset.kind = kind;
}
