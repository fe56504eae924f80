// Documents: browse folders, create a folder, upload files (a new document, or a new
// revision of the document of the same title), download, and see revisions.
import { announce, busy, field, formatBytes, formatTime, h, heading, outcome, progress, section, table } from './ui.js';

export async function documentsPage(main, { api, args, navigate }) {
  const folderId = args[0] || null;
  const title = heading('Documents');
  const where = h('p', { class: 'where' });
  const out = outcome();
  const listing = h('div', { class: 'listing' });
  main.append(title, where, out.el);

  let current = { folders: [], documents: [] };

  async function load() {
    try {
      current = await api.call('list_directory', { folder_id: folderId });
    } catch (err) {
      listing.replaceChildren();
      if (err.code === 'access_denied' || err.code === 'permission_denied') {
        out.error({ ...err, message: 'You may not open this folder: ' + lower(err.message) });
      } else {
        out.error(err);
      }
      return false;
    }
    listing.replaceChildren(
      table(
        folderId ? 'Contents of this folder' : 'Top level',
        ['Name', 'Size', 'Changed', 'Actions'],
        [
          ...current.folders.map((f) => [
            h('a', { href: `#/documents/${encodeURIComponent(f.id)}`, class: 'folder' }, `📁 ${f.name}`),
            '—',
            formatTime(f.created_time),
            '',
          ]),
          ...current.documents.flatMap((d) => documentRows(d)),
        ],
        'This folder is empty.',
      ),
    );
    return true;
  }

  function documentRows(doc) {
    const revisionsRow = h('tr', { class: 'revisions', hidden: true }, h('td', { colspan: '4' }));
    const download = h('button', { type: 'button', class: 'small' }, 'Download');
    const showRevisions = h('button', { type: 'button', class: 'small secondary', 'aria-expanded': 'false' }, 'Revisions');
    const rowOut = outcome();
    download.setAttribute('aria-label', `Download ${doc.title}`);
    showRevisions.setAttribute('aria-label', `Revisions of ${doc.title}`);
    download.addEventListener('click', () =>
      busy(download, rowOut, async () => {
        const got = await api.call('get_document', { document_id: doc.id });
        await api.download(got.task_data.task_id, got.title, got.task_data.size);
        announce(`${doc.title} downloaded.`);
      }),
    );
    showRevisions.addEventListener('click', () =>
      busy(showRevisions, rowOut, async () => {
        const open = revisionsRow.hidden;
        revisionsRow.hidden = !open;
        showRevisions.setAttribute('aria-expanded', String(open));
        if (open) revisionsRow.firstChild.replaceChildren(await revisions(doc));
      }),
    );
    const row = h(
      'tr',
      {},
      h('td', {}, h('span', { class: 'doc' }, doc.title)),
      h('td', {}, formatBytes(doc.size)),
      h('td', {}, formatTime(doc.last_modified)),
      h('td', { class: 'actions' }, download, showRevisions, rowOut.el),
    );
    return [row, revisionsRow];
  }

  async function revisions(doc) {
    let list;
    try {
      list = (await api.call('list_revisions', { document_id: doc.id })).revisions;
    } catch (err) {
      const o = outcome();
      o.error(err);
      return o.el;
    }
    return table(
      `Revisions of ${doc.title}, oldest first`,
      ['Uploaded', 'Size', 'SHA-256', ''],
      list.map((r, i) => {
        const button = h('button', { type: 'button', class: 'small', 'aria-label': `Download revision ${i + 1} of ${doc.title}` }, 'Download');
        const o = outcome();
        button.addEventListener('click', () =>
          busy(button, o, async () => {
            const got = await api.call('get_revision', { id: r.id });
            await api.download(got.task_data.task_id, doc.title, got.task_data.size);
          }),
        );
        return [
          `${formatTime(r.created_time)}${r.is_current ? ' (current)' : ''}`,
          formatBytes(r.size),
          h('code', { title: r.sha256 }, r.sha256.slice(0, 12) + '…'),
          h('span', {}, button, o.el),
        ];
      }),
      'No revisions yet.',
    );
  }

  // Where we are: the folder's name and a way up.
  if (folderId) {
    try {
      const info = await api.call('get_directory_info', { directory_id: folderId });
      title.textContent = `Documents: ${info.name}`;
      const up = info.parent_id ? `#/documents/${encodeURIComponent(info.parent_id)}` : '#/documents';
      where.replaceChildren(h('a', { href: up }, '↑ Up one level'), ' · ', h('a', { href: '#/documents' }, 'Top level'));
    } catch (err) {
      where.replaceChildren(h('a', { href: '#/documents' }, 'Top level'));
    }
  }

  if (!(await load())) return;

  // New folder.
  const name = h('input', { name: 'folder_name', required: true, maxlength: '255' });
  const create = h('button', { type: 'submit' }, 'Create folder');
  const folderOut = outcome();
  const folderForm = h('form', { class: 'inline' }, field('New folder name', name), create, folderOut.el);
  folderForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(create, folderOut, async () => {
      await api.call('create_directory', { name: name.value, parent_id: folderId });
      announce(`Folder ${name.value} created.`);
      folderOut.ok(`Folder “${name.value}” created.`);
      name.value = '';
      await load();
    });
  });

  // Upload.
  const files = h('input', { type: 'file', name: 'files', multiple: true, required: true });
  const send = h('button', { type: 'submit' }, 'Upload');
  const bars = h('div', { class: 'bars' });
  const uploadOut = outcome();
  const uploadForm = h(
    'form',
    { class: 'inline' },
    field('Files to upload', files, 'A file named like a document here becomes its new revision.'),
    send,
    bars,
    uploadOut.el,
  );
  uploadForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(send, uploadOut, async () => {
      const chosen = [...files.files];
      bars.replaceChildren();
      for (const file of chosen) {
        const bar = progress(`Uploading ${file.name}`);
        bars.append(bar.el);
        bar.set(0, file.size);
        const existing = current.documents.find((d) => d.title === file.name);
        const task = existing
          ? (await api.call('upload_document', { document_id: existing.id })).task_data
          : (await api.call('create_document', { title: file.name, folder_id: folderId })).task_data;
        await api.upload(task.task_id, file, (done, total, step) => bar.set(done, total, step));
        bar.set(file.size, file.size, 'Done');
        await load();
      }
      files.value = '';
      uploadOut.ok(`${chosen.length} file${chosen.length === 1 ? '' : 's'} uploaded.`);
      announce('Upload finished.');
    });
  });

  main.append(listing, section('Add', folderForm, uploadForm));
}

function lower(text) {
  return text ? text[0].toLowerCase() + text.slice(1) : '';
}
