// Backups: generate one (with live progress from the events), list them with their
// verification state, download archive and key as two files, verify, restore, delete;
// the tenant's backup policy (schedule, retention, verification, drills) and pruning.
import { announce, busy, field, formatBytes, formatTime, h, heading, jobNote, outcome, progress, section, select, table } from './ui.js';

export async function backupsPage(main, { api, onLeave }) {
  main.append(heading('Backups'));
  const listArea = h('div');
  const listOut = outcome();

  async function load() {
    let listed;
    try {
      listed = await api.call('list_backups', {});
    } catch (err) {
      listOut.error(err);
      return;
    }
    const backups = listed.backups;
    // Said plainly: the one failure a backup exists for would take these with it.
    const shared = listed.store_shares_data
      ? h(
          'p',
          { class: 'notice', role: 'note', 'data-store-shared': '' },
          'These backups are kept on the same disk or bucket as the data they protect: losing it loses them too. Ask the operator to set backup_storage to another disk or bucket.',
        )
      : '';
    listArea.replaceChildren(
      shared,
      table(
        'Stored backups, newest first',
        ['Name', 'Made', 'Size', 'Kind', 'State', 'Actions'],
        backups.map((b) => row(b, backups)),
        'No backups yet.',
      ),
    );
  }

  function row(b, all) {
    const actions = h('td', { class: 'actions' });
    const out = outcome();
    const extra = h('div', { class: 'row-extra' });
    if (b.status === 'completed') {
      // Archive and key are two files, saved by two buttons (browsers ask before one click
      // saves several files).
      const download = (what, label, pick, fileName) => {
        const button = h('button', { type: 'button', class: 'small', 'aria-label': `Download the ${label} of backup ${b.name}` }, `Download ${what}`);
        button.addEventListener('click', () =>
          busy(button, out, async () => {
            const task = pick(await api.call('get_backup_download', { backup_id: b.backup_id }));
            const bar = progress(`Downloading the ${label} of ${b.name}`);
            extra.replaceChildren(bar.el);
            await api.download(task.task_id, fileName, task.size, (d, t) => bar.set(d, t));
            bar.finish(`Saved as ${fileName}`);
            announce(`The ${label} of backup ${b.name} is saved as ${fileName}.`);
          }),
        );
        return button;
      };
      actions.append(
        download('archive', 'archive', (got) => got.archive, `${b.backup_id}.cbk`),
        download('key', 'key file', (got) => got.key, `${b.backup_id}.key.json`),
      );
      const verify = h('button', { type: 'button', class: 'small secondary', 'aria-label': `Verify backup ${b.name}` }, 'Verify');
      verify.addEventListener('click', () => secretThen(b, extra, verify, out, 'Verify', (secrets) => doVerify(b, secrets)));
      const restore = h('button', { type: 'button', class: 'small secondary', 'aria-label': `Restore backup ${b.name}` }, 'Restore');
      if (api.can('import_backup')) {
        restore.addEventListener('click', () => secretThen(b, extra, restore, out, 'Restore', (secrets) => doRestore(b, secrets, out, extra)));
      }
      actions.append(verify, api.can('import_backup') ? restore : '');
    }
    if (b.status !== 'running') {
      const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete backup ${b.name}` }, 'Delete');
      del.addEventListener('click', () => {
        if (!window.confirm(`Delete backup “${b.name}” and its key? This cannot be undone.`)) return;
        busy(del, out, async () => {
          await api.call('delete_backup', { backup_id: b.backup_id });
          announce(`Backup ${b.name} deleted.`);
          await load();
          // The row and its buttons are gone: keep the keyboard where the list is.
          listHeading.focus();
        });
      });
      actions.append(del);
    }
    actions.append(out.el, extra);
    return h(
      'tr',
      { 'data-backup': b.backup_id },
      h('td', {}, b.name),
      h('td', {}, formatTime(b.created_time)),
      h('td', {}, b.base_backup_id && b.size != null ? `${formatBytes(b.size)} (restore reads ${formatBytes(b.chain_size)})` : formatBytes(b.size)),
      h('td', {}, kind(b, all)),
      h('td', {}, state(b), copies(b)),
      actions,
    );
  }

  // Asks for the passphrase or identity a backup's key needs (when it needs one), then runs
  // `then` with them.
  function secretThen(b, extra, button, out, verb, then) {
    if (!b.passphrase_protected) {
      busy(button, out, () => then({}));
      return;
    }
    const passphrase = h('input', { type: 'password', autocomplete: 'off' });
    const identity = h('textarea', { rows: '2', spellcheck: 'false', autocomplete: 'off' });
    const go = h('button', { type: 'submit', class: 'small' }, verb);
    const form = h(
      'form',
      { class: 'secret' },
      field('Key passphrase', passphrase),
      field('Or identity (AGE-SECRET-KEY-1…)', identity, 'For a write-only backup.'),
      go,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const secrets = {};
      if (passphrase.value) secrets.passphrase = passphrase.value;
      if (identity.value.trim()) secrets.identity = identity.value.trim();
      busy(go, out, () => then(secrets));
    });
    extra.replaceChildren(form);
    passphrase.focus();
  }

  // The outcome goes above the list, which is drawn again with the backup's new state.
  async function doVerify(b, secrets) {
    let result;
    try {
      result = await api.call('verify_backup', { backup_id: b.backup_id, ...secrets });
    } catch (err) {
      // Damage found is recorded on the backup: show its state, and the error above it.
      await load();
      listOut.error(err);
      return;
    }
    const c = result.counts || {};
    await load();
    listOut.ok(`Backup ${b.name} is intact: ${c.documents ?? 0} documents, ${c.files ?? 0} files checked.`);
    announce(`Backup ${b.name} verified.`);
  }

  async function doRestore(b, secrets, out, extra) {
    if (!window.confirm(`Restore backup “${b.name}”? Into a tenant that has content, its items are added beside what is there.`)) return;
    const request = { backup_id: b.backup_id, ...secrets };
    const listing = await api.call('list_directory', { folder_id: null });
    if (listing.folders.length || listing.documents.length) request.mode = 'merge';
    const started = await api.call('restore_backup', request);
    const bar = progress(`Restoring ${b.name}`);
    extra.replaceChildren(bar.el);
    const end = await api.follow(started.backup_task_id, 'get_backup_import_status', (s) => bar.percent(s.progress_percent, jobNote(s)), onLeave);
    if (end.status === 'completed') out.ok(`Backup ${b.name} restored.`);
    else out.error({ code: end.error || end.status, message: end.error_message || `The restore ended: ${end.status}` });
  }

  // Generate.
  const name = h('input', { name: 'backup_name', maxlength: '128', pattern: '[A-Za-z0-9 ._\\-]{1,128}' });
  const passphrase = h('input', { name: 'passphrase', type: 'password', autocomplete: 'new-password', minlength: '8' });
  const compression = select('compression', [['zstd', 'zstd (smaller)'], ['none', 'none (faster)']], 'zstd');
  const incremental = h('input', { type: 'checkbox', name: 'incremental' });
  const generate = h('button', { type: 'submit' }, 'Generate backup');
  const genOut = outcome();
  const genBar = h('div', { class: 'bars' });
  const form = h(
    'form',
    { class: 'grid' },
    field('Name', name, 'Letters, digits, spaces, “.”, “_”, “-”; optional.'),
    field('Key passphrase', passphrase, 'Optional. Without it the key file is stored by the server and downloaded as plain text: keep it safe.'),
    field('Compression', compression),
    field('Incremental', incremental, 'Only what changed since the newest backup; it needs that one (and those it builds on) to be restored.'),
    h('div', { class: 'field' }, generate),
    genBar,
    genOut.el,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(generate, genOut, async () => {
      const request = { compression: compression.value, incremental: incremental.checked };
      if (name.value.trim()) request.backup_name = name.value.trim();
      if (passphrase.value) request.passphrase = passphrase.value;
      const started = await api.call('generate_backup', request);
      passphrase.value = '';
      const bar = progress('Generating backup');
      genBar.replaceChildren(bar.el);
      await load();
      const end = await api.follow(started.backup_task_id, 'get_backup_export_status', (s) => bar.percent(s.progress_percent, jobNote(s)), onLeave);
      if (end.status === 'completed') {
        bar.percent(100, 'Completed');
        const full = request.incremental && !started.incremental ? ' No backup could be its base, so it is a full one.' : '';
        genOut.ok(`Backup ${request.backup_name || started.backup_id} is ready.${full}`);
        announce('The backup is ready.');
      } else {
        genOut.error({ code: end.error || end.status, message: end.error_message || `The backup ended: ${end.status}` });
      }
      await load();
    });
  });

  const stored = section('Stored backups', listOut.el, listArea);
  const listHeading = stored.querySelector('h2');
  listHeading.setAttribute('tabindex', '-1');
  main.append(section('Generate a backup', form), stored);
  await load();

  // Scheduled backups, verifications and drills change the list: follow them.
  let pending = null;
  const unsubscribe = api.subscribe((event) => {
    if (!['backup_export_completed', 'backup_verify_completed', 'backup_verify_failed'].includes(event)) return;
    clearTimeout(pending);
    pending = setTimeout(load, 300);
  });
  onLeave(() => {
    unsubscribe();
    clearTimeout(pending);
  });

  main.append(await policySection(api, load));
}

// Who made it, and whether it is full or a link on another backup (named).
function kind(b, all) {
  const origin = b.origin === 'scheduled' ? 'Scheduled' : 'Manual';
  if (!b.base_backup_id) return `${origin}, full`;
  const base = all.find((o) => o.backup_id === b.base_backup_id);
  return h('span', { title: 'It needs the backups it builds on to be restored; they stay while it does.' },
    `${origin}, incremental on “${base ? base.name : b.base_backup_id}”`);
}

function state(b) {
  if (b.status === 'running') return 'Being made';
  if (b.status !== 'completed') return 'Failed';
  if (b.verification === 'good') return `Verified ${formatTime(b.verified_time)}`;
  if (b.verification === 'failed') return h('strong', { class: 'bad' }, `Damaged: ${b.verify_error || 'verification failed'}`);
  return 'Not verified yet';
}

// Where the backup's copies are (README, backup_copies): one line per destination.
function copies(b) {
  if (!b.copies || b.copies.length === 0) return '';
  const line = (c) => {
    if (c.state === 'copied') return `Copied to ${c.destination} ${formatTime(c.copied_time)}`;
    if (c.state === 'failed') return h('strong', { class: 'bad' }, `Not copied to ${c.destination}: ${c.error || 'refused'}`);
    return c.attempts > 0 ? `Waiting for ${c.destination} (tried ${c.attempts}×: ${c.error || 'no answer'})` : `Being copied to ${c.destination}`;
  };
  return h('ul', { class: 'copies', 'aria-label': `Copies of backup ${b.name}` }, b.copies.map((c) => h('li', { 'data-copy': c.state }, line(c))));
}

// The tenant's backup policy, and pruning by it.
async function policySection(api, reload) {
  const out = outcome();
  let policy = null;
  try {
    policy = (await api.call('get_backup_policy', {})).policy;
  } catch (err) {
    out.error(err);
    return section('Backup policy', out.el);
  }
  const p = policy || {};
  const text = (name, value, extra = {}) => h('input', { name, value: value ?? '', ...extra });
  const count = (name, value) => h('input', { name, type: 'number', min: '1', value: value ?? '', inputmode: 'numeric' });
  const schedule = text('schedule', p.schedule, { placeholder: '0 3 * * *' });
  const zone = text('time_zone', p.time_zone || 'UTC');
  const compression = select('policy_compression', [['zstd', 'zstd'], ['none', 'none']], p.compression || 'zstd');
  const keepLast = count('keep_last', p.keep_last);
  const keepDaily = count('keep_daily', p.keep_daily);
  const keepWeekly = count('keep_weekly', p.keep_weekly);
  const keepMonthly = count('keep_monthly', p.keep_monthly);
  const keepWithin = text('keep_within', p.keep_within, { placeholder: '1w3d' });
  const verifyAfter = h('input', { type: 'checkbox', name: 'verify_after', checked: !!p.verify_after });
  const drill = text('drill_schedule', p.drill_schedule, { placeholder: '0 4 * * 0' });
  const fullEvery = count('full_every', p.full_every);
  const protection = select('key_protection', [['server', 'Kept by the server'], ['recipients', 'Write-only (age recipients)']], p.key_protection || 'server');
  const recipients = h('textarea', { name: 'recipients', rows: '2', spellcheck: 'false' }, (p.recipients || []).join('\n'));
  const next = h('p', { class: 'hint' }, nextRuns(policy));
  const save = h('button', { type: 'submit' }, 'Save policy');
  const form = h(
    'form',
    { class: 'grid' },
    field('Schedule (cron)', schedule, 'minute hour day month weekday; empty: no scheduled backups.'),
    field('Time zone', zone, 'An IANA name such as Europe/Berlin.'),
    field('Compression', compression),
    field('Keep last', keepLast),
    field('Keep daily', keepDaily),
    field('Keep weekly', keepWeekly),
    field('Keep monthly', keepMonthly),
    field('Keep within', keepWithin, 'Such as 36h or 1w3d.'),
    field('Verify every new backup', verifyAfter),
    field('Drill schedule (cron)', drill, 'When every stored backup is verified again.'),
    field('Full backup every', fullEvery, 'Every n-th scheduled backup is full, the others incremental; empty or 1: all full.'),
    field('Key protection', protection),
    field('Recipients (one per line)', recipients, 'age1… public keys from “coffer backup keygen”.'),
    next,
    h('div', { class: 'field' }, save),
    out.el,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(save, out, async () => {
      const number = (input) => (input.value === '' ? null : Number(input.value));
      const value = (input) => (input.value.trim() === '' ? null : input.value.trim());
      const request = {
        schedule: value(schedule),
        time_zone: value(zone),
        compression: compression.value,
        keep_last: number(keepLast),
        keep_daily: number(keepDaily),
        keep_weekly: number(keepWeekly),
        keep_monthly: number(keepMonthly),
        keep_within: value(keepWithin),
        verify_after: verifyAfter.checked,
        drill_schedule: value(drill),
        full_every: number(fullEvery),
        key_protection: protection.value,
        recipients: recipients.value.split('\n').map((r) => r.trim()).filter(Boolean),
      };
      const saved = (await api.call('set_backup_policy', request)).policy;
      next.textContent = nextRuns(saved);
      out.ok('Policy saved.');
      announce('Backup policy saved.');
    });
  });

  const pruneOut = outcome();
  const preview = h('button', { type: 'button', class: 'secondary' }, 'Preview pruning');
  const prune = h('button', { type: 'button', class: 'danger' }, 'Prune now');
  const prunes = (dryRun, button) =>
    busy(button, pruneOut, async () => {
      const r = await api.call('prune_backups', { dry_run: dryRun });
      const verb = dryRun ? 'would remove' : 'removed';
      const held = r.held.length ? `, keeps ${r.held.length} that incremental backups need` : '';
      pruneOut.ok(`Retention keeps ${r.kept.length}, ${verb} ${r.removed.length}${r.in_use.length ? `, leaves ${r.in_use.length} in use` : ''}${held}.`);
      if (!dryRun) await reload();
    });
  preview.addEventListener('click', () => prunes(true, preview));
  prune.addEventListener('click', () => {
    if (window.confirm('Remove every backup the retention rules do not keep?')) prunes(false, prune);
  });
  return section('Backup policy', form, h('div', { class: 'buttons' }, preview, prune), pruneOut.el);
}

function nextRuns(policy) {
  if (!policy) return 'No policy yet: backups run only when generated here.';
  const parts = [];
  parts.push(policy.next_run_time ? `Next scheduled backup: ${formatTime(policy.next_run_time)}.` : 'No scheduled backups.');
  if (policy.next_drill_time) parts.push(`Next drill: ${formatTime(policy.next_drill_time)}.`);
  return parts.join(' ');
}
