// Small DOM helpers. Text from the server always goes in as text nodes, never as markup.

let ids = 0;

// `h('button', {class: 'x', onclick: f}, 'Text', child)`: an element with attributes,
// listeners (`on…`) and children (strings become text nodes).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled form control: `field('Name', h('input', {...}))`, with an optional hint the
// control is described by.
export function field(label, control, hint) {
  if (!control.id) control.id = uid('f');
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hintId = uid('hint');
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('small', { id: hintId, class: 'hint' }, hint));
  }
  return h('div', { class: control.type === 'checkbox' ? 'field check' : 'field' }, parts);
}

export function select(name, options, chosen) {
  return h(
    'select',
    { name },
    options.map(([value, text]) => h('option', { value, selected: value === chosen }, text)),
  );
}

// The page's heading, focused when the page opens so a screen reader starts there.
export function heading(text) {
  return h('h1', { tabindex: '-1' }, text);
}

export function section(title, ...children) {
  const id = uid('s');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), children);
}

// An area for one operation's outcome: `show(error)` says what went wrong as a sentence
// with its code, `ok(text)` says it went well.
export function outcome() {
  const el = h('div', { class: 'outcome' });
  return {
    el,
    clear() {
      el.replaceChildren();
      el.className = 'outcome';
      el.removeAttribute('role');
    },
    error(err) {
      el.className = 'outcome error';
      el.setAttribute('role', 'alert');
      el.replaceChildren(sentence(err));
    },
    ok(text) {
      el.className = 'outcome ok';
      el.setAttribute('role', 'status');
      el.replaceChildren(text);
    },
  };
}

// What went wrong, as a sentence a person reads, with the server's code after it.
export function sentence(err) {
  if (!err || !err.code) return String(err?.message || err || 'Something went wrong.');
  let text = err.message || 'Something went wrong';
  if (!/[.!?]$/.test(text)) text += '.';
  const wait = err.data?.retry_after;
  if (Number.isInteger(wait)) text += ` Try again in ${formatDuration(wait)}.`;
  if (err.data?.field) text += ` (Field: ${err.data.field}.)`;
  return `${text} [${err.code}]`;
}

// A labelled progress bar with a line of text under it.
export function progress(label) {
  const bar = h('progress', { max: '100', value: '0', 'aria-label': label });
  const text = h('span', { class: 'progress-text' }, '');
  const el = h('div', { class: 'progress' }, h('span', { class: 'progress-label' }, label), bar, text);
  return {
    el,
    set(done, total, note) {
      if (total == null) total = done;
      const percent = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 100;
      bar.value = percent;
      bar.setAttribute('aria-valuetext', `${percent} percent`);
      text.textContent = `${note ? `${note}: ` : ''}${percent} % (${formatBytes(done)} of ${formatBytes(total)})`;
    },
    // Full, with `note` alone (no byte counts).
    finish(note) {
      bar.value = 100;
      bar.setAttribute('aria-valuetext', note);
      text.textContent = note;
    },
    percent(value, note) {
      bar.value = value;
      bar.setAttribute('aria-valuetext', `${value} percent`);
      text.textContent = `${note ? `${note}: ` : ''}${value} %`;
    },
  };
}

// Says `text` to screen readers through the page's live region.
export function announce(text) {
  const status = document.getElementById('status');
  if (status) status.textContent = text;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${n} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatTime(seconds) {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toLocaleString();
}

export function formatDuration(seconds) {
  if (seconds < 90) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

// A table with a caption, column headers and rows (arrays of cells, or ready rows). Each
// cell is labelled with its column, which a phone shows beside it (the headers are hidden
// there, each row standing as a block).
export function table(caption, columns, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  const body = h('tbody', {}, rows.map((cells) => (cells instanceof Node ? cells : h('tr', {}, cells.map((c) => h('td', {}, c))))));
  for (const row of body.rows) {
    [...row.cells].forEach((cell, i) => {
      if (cell.colSpan === 1 && columns[i] && !cell.hasAttribute('data-label')) cell.setAttribute('data-label', columns[i]);
    });
  }
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))), body),
  );
}

// Runs `work` with `button` disabled, showing a failure in `out`.
export async function busy(button, out, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  out?.clear();
  try {
    return await work();
  } catch (err) {
    if (out) out.error(err);
    else throw err;
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

const STEPS = {
  verifying: 'Checking the archive',
  importing: 'Importing',
  writing: 'Writing the archive',
  completed: 'Completed',
};
const STATES = {
  pending: 'Waiting for the uploads',
  queued: 'Waiting for a worker',
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  timeout: 'Timed out',
};

// What a job is doing, in words: its step while it runs, else its state.
export function jobNote(status) {
  if (status.status === 'running' && STEPS[status.current_step]) return STEPS[status.current_step];
  return STATES[status.status] || STEPS[status.current_step] || status.status || '';
}
