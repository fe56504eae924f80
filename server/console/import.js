// Import: choose an archive and its key file (and, for an incremental backup, the earlier
// links of its chain), upload them with progress, start the import with its options, follow
// it step by step, and show the result or the error; cancel.
import { ApiError } from './api.js';
import { announce, busy, field, h, heading, jobNote, outcome, progress, section, select, table } from './ui.js';

export async function importPage(main, { api, onLeave }) {
  main.append(heading('Import a backup'));
  const archive = h('input', { type: 'file', name: 'archive', required: true, accept: '.cbk,.tar,application/octet-stream' });
  const key = h('input', { type: 'file', name: 'key', required: true, accept: '.json,application/json' });
  const links = h('input', { type: 'file', name: 'links', multiple: true, accept: '.cbk,.json,application/json,application/octet-stream' });
  const mode = select('mode', [['restore', 'Restore (the tenant must be empty)'], ['merge', 'Merge into what is here']], 'restore');
  const onConflict = select('on_conflict', [['rename', 'Rename the imported item'], ['skip', 'Skip the imported item'], ['fail', 'Stop the import']], 'rename');
  const dryRun = h('input', { type: 'checkbox', name: 'dry_run' });
  const allowLegacy = h('input', { type: 'checkbox', name: 'allow_legacy' });
  const passphrase = h('input', { type: 'password', name: 'passphrase', autocomplete: 'off' });
  const identity = h('textarea', { name: 'identity', rows: '2', spellcheck: 'false', autocomplete: 'off' });
  const start = h('button', { type: 'submit' }, 'Upload and import');
  const cancel = h('button', { type: 'button', class: 'danger', hidden: true }, 'Cancel import');
  const bars = h('div', { class: 'bars' });
  const out = outcome();
  const result = h('div', { class: 'result' });
  const jobLine = h('p', { class: 'hint' });

  const form = h(
    'form',
    { class: 'grid' },
    field('Archive (.cbk)', archive),
    field('Key file (.key.json)', key),
    field(
      'Earlier links (incremental backup)',
      links,
      'Only for an incremental backup: every earlier link of its chain, each as its archive and its key file (<id>.cbk and <id>.key.json, as the Backups page downloads them).',
    ),
    field('Mode', mode),
    field('When a name is taken (merge)', onConflict),
    field('Dry run: only report what would happen', dryRun),
    field('Allow a legacy CFMS archive (not authenticated)', allowLegacy),
    field('Key passphrase', passphrase, 'Only for a key file protected by a passphrase.'),
    field('Identity (AGE-SECRET-KEY-1…)', identity, 'Only for a write-only backup’s key file.'),
    h('div', { class: 'field buttons' }, start, cancel),
  );

  let jobId = null;
  let uploads = null;
  let stopFollowing = () => {};
  let left = false;
  // Leaving the page stops its uploads (the job then times out, as one left pending does)
  // and the following of a job that runs on.
  onLeave(() => {
    left = true;
    uploads?.abort();
    stopFollowing();
  });

  // Cancel stops the uploads in progress, then the job (which removes what it uploaded).
  cancel.addEventListener('click', () =>
    busy(cancel, out, async () => {
      if (!jobId) return;
      uploads?.abort();
      await api.call('cancel_backup_import', { backup_task_id: jobId });
      announce('Import cancelled.');
    }),
  );

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    result.replaceChildren();
    busy(start, out, async () => {
      const archiveFile = archive.files[0];
      const keyFile = key.files[0];
      // Checked before anything is made on the server.
      const chain = linkPairs([...links.files]);
      // Made before the job: leaving the page from here on stops what follows.
      uploads = new AbortController();
      const job = await api.call('initiate_backup_import', chain.length ? { links: chain.length } : {});
      jobId = job.backup_task_id;
      if (left) {
        api.call('cancel_backup_import', { backup_task_id: jobId }).catch(() => {});
        return;
      }
      cancel.hidden = false;
      // Its id, for `coffer backup status JOB` and for the record.
      jobLine.replaceChildren('Import job ', h('code', { 'data-job': jobId }, jobId));
      const archiveBar = progress(`Uploading ${archiveFile.name}`);
      const keyBar = progress(`Uploading ${keyFile.name}`);
      const linkBar = chain.length ? progress(`Uploading ${chain.length} earlier ${chain.length === 1 ? 'link' : 'links'}`) : null;
      const jobBar = progress('Import');
      bars.replaceChildren(archiveBar.el, keyBar.el, ...(linkBar ? [linkBar.el] : []), jobBar.el);
      jobBar.percent(0, 'Waiting for the uploads');
      let started = false;
      try {
        await api.upload(job.archive_task_id, archiveFile, (d, t, step) => archiveBar.set(d, t, step), uploads.signal);
        await api.upload(job.key_task_id, keyFile, (d, t, step) => keyBar.set(d, t, step), uploads.signal);
        // The server tells the links apart by the backup each names: any pair of tasks takes
        // any link. One bar for all of them, by bytes.
        const total = chain.reduce((n, [a, k]) => n + a.size + k.size, 0);
        let sent = 0;
        for (const [i, pair] of chain.entries()) {
          const tasks = job.link_tasks[i];
          for (const [file, task] of [[pair[0], tasks.archive_task_id], [pair[1], tasks.key_task_id]]) {
            await api.upload(task, file, (d, _t, step) => linkBar.set(sent + d, total, step), uploads.signal);
            sent += file.size;
          }
        }
        if (left) return;
        const request = { backup_task_id: jobId, mode: mode.value, dry_run: dryRun.checked, allow_legacy: allowLegacy.checked };
        if (mode.value === 'merge') request.on_conflict = onConflict.value;
        if (passphrase.value) request.passphrase = passphrase.value;
        if (identity.value.trim()) request.identity = identity.value.trim();
        await api.call('start_backup_import', request);
        started = true;
        announce('Import started.');
        const end = await api.follow(
          jobId,
          'get_backup_import_status',
          (s) => jobBar.percent(s.progress_percent, jobNote(s)),
          (stop) => {
            stopFollowing = stop;
            if (left) stop();
          },
        );
        jobBar.percent(end.progress_percent, jobNote(end));
        if (end.status === 'completed') {
          out.ok(dryRun.checked ? 'Dry run finished: nothing was changed.' : 'Import finished.');
          announce('Import finished.');
          result.replaceChildren(summary(end.result || {}));
        } else if (end.status === 'cancelled') {
          out.ok('The import was cancelled; nothing of it was kept.');
        } else {
          out.error({ code: end.error || end.status, message: end.error_message || `The import ended: ${end.status}` });
        }
      } catch (err) {
        if (err.code === 'cancelled') {
          out.ok('The import was cancelled; nothing of it was kept.');
          return;
        }
        // A job that never started (an upload failed, or start refused the files) is let go
        // at once, its uploads with it: the next attempt makes a new one.
        // (Not when the connection broke: the job may have been queued all the same.)
        const refused = !['connection_lost', 'connection_failed'].includes(err.code);
        if (!started && refused) api.call('cancel_backup_import', { backup_task_id: jobId }).catch(() => {});
        throw err;
      } finally {
        cancel.hidden = true;
        uploads = null;
      }
    });
  });

  main.append(section('Archive and options', form), jobLine, bars, out.el, result);
}

// The earlier links chosen, as [archive, key] pairs matched by name (`<id>.cbk` with
// `<id>.key.json`); a file without its partner is refused before anything is uploaded.
function linkPairs(files) {
  const stem = (f) => f.name.replace(/\.key\.json$|\.json$|\.cbk$/, '');
  const keys = new Map(files.filter((f) => f.name.endsWith('.json')).map((f) => [stem(f), f]));
  const archives = files.filter((f) => !f.name.endsWith('.json'));
  const pairs = archives.map((a) => [a, keys.get(stem(a))]);
  const alone = pairs.find(([, k]) => !k);
  if (alone) throw new ApiError('invalid_field', `The earlier link ${alone[0].name} has no key file beside it (${stem(alone[0])}.key.json)`);
  const used = new Set(archives.map(stem));
  const extra = [...keys.keys()].find((s) => !used.has(s));
  if (extra) throw new ApiError('invalid_field', `The key file ${keys.get(extra).name} has no archive beside it (${extra}.cbk)`);
  return pairs;
}

// The result of an import: counts, warnings and the size of the id map.
function summary(r) {
  const counts = Object.entries(r.counts || {});
  const maps = r.id_map ? Object.entries(r.id_map).map(([kind, map]) => [kind, Object.keys(map || {}).length]) : [];
  return h(
    'div',
    {},
    table('What the import did', ['What', 'How many'], counts.map(([k, v]) => [k.replaceAll('_', ' '), String(v)]), 'No counts.'),
    h('h3', {}, 'Warnings'),
    (r.warnings || []).length
      ? h('ul', { class: 'warnings' }, r.warnings.map((w) => h('li', {}, typeof w === 'string' ? w : JSON.stringify(w))))
      : h('p', {}, 'None.'),
    h('h3', {}, 'Id map'),
    r.id_map_omitted
      ? h('p', {}, 'Too many ids to list; the counts above still hold.')
      : h('p', {}, maps.length ? maps.map(([k, n]) => `${n} ${k}`).join(', ') + ' mapped from old ids to new.' : 'No ids mapped.'),
  );
}
