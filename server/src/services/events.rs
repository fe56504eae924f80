//! Announcing changes to folders and documents: queued on the write that makes them, and
//! published when it commits (`app::write::Write`).
use api_spec::events::{
    Change, DIRECTORY_CHANGED, DOCUMENT_CHANGED, DirectoryChanged, DocumentChanged,
};
use entity::{document, folder};

use crate::app::write::Write;
use crate::auth::AuthContext;
use crate::events::Audience;
use crate::storage::rules::Object;

/// Readers of the object; for a deletion, readers of where it was.
fn audience(object: Object, parent: Option<uuid::Uuid>, change: Change) -> Audience {
    match change {
        Change::Deleted => Audience::Readers(parent.map(Object::Folder)),
        _ => Audience::Readers(Some(object)),
    }
}

pub fn document_changed(
    w: &mut Write<'_>,
    auth: &AuthContext,
    doc: &document::Model,
    change: Change,
) {
    let payload = DocumentChanged {
        document_id: doc.id.to_string(),
        folder_id: doc.folder_id.map(|f| f.to_string()),
        change,
    };
    let audience = audience(Object::Document(doc.id), doc.folder_id, change);
    w.publish(
        auth.scope().tenant_id(),
        audience,
        DOCUMENT_CHANGED,
        &payload,
    );
}

pub fn directory_changed(w: &mut Write<'_>, auth: &AuthContext, f: &folder::Model, change: Change) {
    let payload = DirectoryChanged {
        folder_id: f.id.to_string(),
        parent_id: f.parent_id.map(|p| p.to_string()),
        change,
    };
    let audience = audience(Object::Folder(f.id), f.parent_id, change);
    w.publish(
        auth.scope().tenant_id(),
        audience,
        DIRECTORY_CHANGED,
        &payload,
    );
}
