//! Writing access rules: validation, then replacement per type, then the lock-out check.
use api_spec::ErrorCode;
use api_spec::actions::AccessRules;
use sea_orm::ConnectionTrait;

use super::access;
use crate::access::{AccessType, Rule, RuleSet};
use crate::auth::AuthContext;
use crate::error::{Result, fail, field_error};
use crate::storage::rules::{self as stored, Object};

/// Parses wire rules; any unknown type, field or `match` value is `invalid_rules`.
pub fn parse(wire: &AccessRules) -> Result<RuleSet> {
    let bad = || field_error(ErrorCode::InvalidRules, "access_rules");
    let mut set = RuleSet::new();
    for (name, rules) in wire {
        let t = AccessType::parse(name).ok_or_else(bad)?;
        let parsed: Vec<Rule> = rules
            .iter()
            .map(|r| serde_json::from_value(r.clone()).map_err(|_| bad()))
            .collect::<Result<_>>()?;
        set.insert(t, parsed);
    }
    Ok(set)
}

/// Renders stored rules for the wire.
pub fn render(set: &RuleSet) -> AccessRules {
    set.iter()
        .map(|(t, rules)| {
            (
                t.as_str().to_owned(),
                rules
                    .iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect(),
            )
        })
        .collect()
}

/// Applies `set` to the object (each type present replaces that type; an empty set removes
/// every rule), then requires that the caller still passes every type it set, and still may
/// manage the object — so nobody can lock themselves out, neither by the rules they write nor
/// by the inheritance they switch on in the same action. Run inside the action's transaction
/// (after any change of `inherit`): an error rolls it all back.
pub async fn apply(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    object: Object,
    set: &RuleSet,
) -> Result<()> {
    if set.is_empty() {
        stored::clear(auth.scope(), db, object).await?;
    } else {
        stored::replace_types(auth.scope(), db, object, set).await?;
    }
    for t in set.keys().chain([&AccessType::Manage]) {
        if !access::allowed(auth, db, object, *t).await? {
            return Err(fail(ErrorCode::WouldLockOut));
        }
    }
    Ok(())
}
