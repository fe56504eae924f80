// The console's shell: the log-in page, the navigation and the pages behind `#/…`.
import { Api } from './api.js';
import { announce, busy, field, h, outcome } from './ui.js';
import { documentsPage } from './documents.js';
import { backupsPage } from './backups.js';
import { importPage } from './import.js';
import { tenantsPage } from './tenants.js';

const api = new Api();
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

// Each page, and who may see it (the server refuses the actions anyway).
const PAGES = [
  { id: 'documents', label: 'Documents', render: documentsPage, allowed: () => true },
  { id: 'backups', label: 'Backups', render: backupsPage, allowed: () => api.can('export_backup') },
  { id: 'import', label: 'Import', render: importPage, allowed: () => api.can('import_backup') },
  {
    id: 'tenants',
    label: 'Tenants',
    render: tenantsPage,
    allowed: () => api.can('manage_tenants') && api.session.tenant === 'default',
  },
];

// Work a page started (a listener, a poll) that must stop when it is left.
let leave = [];

function route() {
  const [page, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  return { page: page || 'documents', args: rest.map(decodeURIComponent) };
}

function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render() {
  for (const stop of leave) stop();
  leave = [];
  main.removeAttribute('data-ready');
  if (!api.session) {
    shell(false);
    loginPage();
    main.setAttribute('data-ready', 'login');
    return;
  }
  shell(true);
  const { page, args } = route();
  const found = PAGES.find((p) => p.id === page && p.allowed()) || PAGES[0];
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.page === found.id) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // Each page renders into a view of its own: one left before it finished loading goes on
  // writing into a view no longer on the screen.
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  document.title = `${found.label} — Coffer`;
  const ready = found.render(view, { api, args, navigate, onLeave: (stop) => leave.push(stop) });
  view.querySelector('h1')?.focus();
  Promise.resolve(ready)
    .catch(() => {})
    .then(() => {
      if (view.isConnected) main.setAttribute('data-ready', found.id);
    });
}

function shell(loggedIn) {
  nav.hidden = !loggedIn;
  who.hidden = !loggedIn;
  if (!loggedIn) return;
  nav.replaceChildren(
    h(
      'ul',
      {},
      PAGES.filter((p) => p.allowed()).map((p) =>
        h('li', {}, h('a', { href: `#/${p.id}`, 'data-page': p.id }, p.label)),
      ),
    ),
  );
  const logout = h('button', { type: 'button', class: 'secondary' }, 'Log out');
  logout.addEventListener('click', async () => {
    logout.disabled = true;
    await api.logout().catch(() => {});
    announce('You are logged out.');
    render();
  });
  who.replaceChildren(
    h('span', {}, `${api.session.nickname || api.session.username} · ${api.session.tenant}`),
    logout,
  );
}

function loginPage() {
  document.title = 'Log in — Coffer';
  const tenant = h('input', { name: 'tenant', value: 'default', autocomplete: 'organization', required: true });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const out = outcome();
  const form = h(
    'form',
    { class: 'card login', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title', tabindex: '-1' }, 'Log in to Coffer'),
    field('Tenant', tenant, 'Your organisation’s name on this server; “default” unless told otherwise.'),
    field('User name', username),
    field('Password', password),
    submit,
    out.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ok = await busy(submit, out, async () => {
      await api.login(tenant.value.trim(), username.value.trim(), password.value);
      return true;
    });
    password.value = '';
    if (ok) {
      await api.listen().catch(() => {});
      announce(`Logged in as ${api.session.username}.`);
      if (!location.hash || location.hash === '#/') location.hash = '#/documents';
      render();
    } else {
      password.focus();
    }
  });
  main.replaceChildren(form);
  (username.value ? password : username).focus();
}

api.onSessionEnded = () => {
  announce('Your session ended. Log in again.');
  render();
};

window.addEventListener('hashchange', render);
// The skip link moves focus to the content; it is not a page.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
if (api.restore()) api.listen().catch(() => {});
render();

