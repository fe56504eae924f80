// Tenants (holders of manage_tenants in tenant default): list them and create one.
import { announce, busy, field, formatTime, h, heading, outcome, section, table } from './ui.js';

export async function tenantsPage(main, { api }) {
  main.append(heading('Tenants'));
  const listArea = h('div');
  const out = outcome();

  async function load() {
    try {
      const { tenants } = await api.call('list_tenants', {});
      listArea.replaceChildren(
        table('Tenants on this server', ['Name', 'Display name', 'Created'], tenants.map((t) => [t.tenant, t.display_name, formatTime(t.created_time)]), 'No tenants.'),
      );
    } catch (err) {
      out.error(err);
    }
  }

  const slug = h('input', { name: 'tenant', required: true, pattern: '[a-z0-9][a-z0-9\\-]{1,62}', autocomplete: 'off' });
  const display = h('input', { name: 'display_name', autocomplete: 'off' });
  const password = h('input', { name: 'admin_password', type: 'password', required: true, minlength: '8', autocomplete: 'new-password' });
  const create = h('button', { type: 'submit' }, 'Create tenant');
  const createOut = outcome();
  const form = h(
    'form',
    { class: 'grid' },
    field('Name', slug, '2–63 of a–z, 0–9 and “-”: what its users give as tenant when they log in.'),
    field('Display name', display),
    field('Password of its admin user', password),
    h('div', { class: 'field' }, create),
    createOut.el,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(create, createOut, async () => {
      const request = { tenant: slug.value.trim(), admin_password: password.value };
      if (display.value.trim()) request.display_name = display.value.trim();
      await api.call('create_tenant', request);
      password.value = '';
      createOut.ok(`Tenant ${request.tenant} created; its admin user is “admin”.`);
      announce(`Tenant ${request.tenant} created.`);
      await load();
    });
  });

  main.append(section('All tenants', out.el, listArea), section('Create a tenant', form));
  await load();
}
