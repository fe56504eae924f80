//! CFMS access rules (`reference/cfms.md` §3.4), evaluated without I/O.
//!
//! A rule set maps access types to lists of rules. To check access type `T`:
//! 1. an explicit grant for `T` on the object allows at once;
//! 2. an object without rules allows;
//! 3. otherwise every *applicable* rule must pass (AND): `read` → read rules; `write` →
//!    read and write rules; `manage` → read and manage rules; `move` → move rules only.
//!
//! A rule passes by its match groups (`all`: every non-empty group passes, vacuously true;
//! `any`: at least one does, so an empty list fails). A group tests `rights.require`
//! against the user's permissions and `groups.require` against their groups (each with its
//! own all/any; an empty `require` passes); the group's own `match` combines the two, except
//! that when either list is empty the combination is `all` (CFMS's rule). A group with
//! neither test is skipped. Unlike CFMS, an unknown `match` value is refused when the rule
//! is written (400), never a 500 when it is evaluated.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use api_spec::actions::AccessType;

/// `all` or `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    All,
    Any,
}

/// One test: which names are required, and whether all or any of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    #[serde(rename = "match")]
    pub mode: Match,
    #[serde(default)]
    pub require: Vec<String>,
}

/// One match group: a rights test and/or a groups test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchGroup {
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Match>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rights: Option<Requirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Requirement>,
}

/// One rule (`rule_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(rename = "match")]
    pub mode: Match,
    pub match_groups: Vec<MatchGroup>,
}

/// An object's rules by access type.
pub type RuleSet = BTreeMap<AccessType, Vec<Rule>>;

/// Who is being checked: their permissions and group names, now.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub permissions: &'a BTreeSet<String>,
    pub groups: &'a BTreeSet<String>,
}

fn requirement_passes(req: &Requirement, have: &BTreeSet<String>) -> bool {
    if req.require.is_empty() {
        return true;
    }
    match req.mode {
        Match::All => req.require.iter().all(|r| have.contains(r)),
        Match::Any => req.require.iter().any(|r| have.contains(r)),
    }
}

/// `None` when the group has no test (it is skipped).
fn group_passes(group: &MatchGroup, subject: Subject<'_>) -> Option<bool> {
    let rights = group.rights.as_ref().map(|r| {
        (
            r.require.is_empty(),
            requirement_passes(r, subject.permissions),
        )
    });
    let groups = group
        .groups
        .as_ref()
        .map(|g| (g.require.is_empty(), requirement_passes(g, subject.groups)));
    match (rights, groups) {
        (None, None) => None,
        (Some((_, a)), None) | (None, Some((_, a))) => Some(a),
        (Some((a_empty, a)), Some((b_empty, b))) => {
            let mode = if a_empty || b_empty {
                Match::All
            } else {
                group.mode.unwrap_or(Match::All)
            };
            Some(match mode {
                Match::All => a && b,
                Match::Any => a || b,
            })
        }
    }
}

pub fn rule_passes(rule: &Rule, subject: Subject<'_>) -> bool {
    let mut results = rule
        .match_groups
        .iter()
        .filter_map(|g| group_passes(g, subject));
    match rule.mode {
        Match::All => results.all(|r| r),
        Match::Any => results.any(|r| r),
    }
}

/// Whether `subject` may have `access` to an object with `rules`, given whether an explicit
/// grant for exactly `access` exists (see the module docs).
pub fn allows(
    rules: &RuleSet,
    access: AccessType,
    subject: Subject<'_>,
    explicit_grant: bool,
) -> bool {
    if explicit_grant {
        return true;
    }
    access
        .applicable()
        .iter()
        .filter_map(|t| rules.get(t))
        .flatten()
        .all(|rule| rule_passes(rule, subject))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn rules(value: serde_json::Value) -> RuleSet {
        serde_json::from_value(value).unwrap()
    }

    fn check(rs: &RuleSet, access: AccessType, perms: &[&str], groups: &[&str]) -> bool {
        let (p, g) = (set(perms), set(groups));
        allows(
            rs,
            access,
            Subject {
                permissions: &p,
                groups: &g,
            },
            false,
        )
    }

    #[test]
    fn no_rules_allow_everything() {
        for &t in AccessType::ALL {
            assert!(check(&RuleSet::new(), t, &[], &[]));
        }
    }

    #[test]
    fn cfms_example_read_by_group_or_right() {
        let rs = rules(json!({"read": [{"match": "any", "match_groups": [
            {"groups": {"match": "any", "require": ["sysop", "user"]}},
            {"rights": {"match": "all", "require": ["view_secret"]}}
        ]}]}));
        assert!(check(&rs, AccessType::Read, &[], &["user"]));
        assert!(check(&rs, AccessType::Read, &["view_secret"], &[]));
        assert!(!check(&rs, AccessType::Read, &[], &["guest"]));
        // Write needs the read rules too; move does not.
        assert!(!check(&rs, AccessType::Write, &[], &["guest"]));
        assert!(check(&rs, AccessType::Move, &[], &["guest"]));
    }

    #[test]
    fn write_and_manage_imply_read_rules() {
        let rs = rules(json!({
            "read": [{"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["readers"]}}]}],
            "write": [{"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["writers"]}}]}],
            "manage": [{"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["managers"]}}]}]
        }));
        assert!(!check(&rs, AccessType::Write, &[], &["writers"]));
        assert!(check(&rs, AccessType::Write, &[], &["writers", "readers"]));
        assert!(!check(&rs, AccessType::Manage, &[], &["managers"]));
        assert!(check(
            &rs,
            AccessType::Manage,
            &[],
            &["managers", "readers"]
        ));
        assert!(check(&rs, AccessType::Read, &[], &["readers"]));
    }

    #[test]
    fn several_rules_of_a_type_are_and_combined() {
        let rs = rules(json!({"read": [
            {"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["a"]}}]},
            {"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["b"]}}]}
        ]}));
        assert!(!check(&rs, AccessType::Read, &[], &["a"]));
        assert!(check(&rs, AccessType::Read, &[], &["a", "b"]));
    }

    #[test]
    fn empty_lists_and_groups() {
        // any over no groups fails; all over no groups passes.
        let any = rules(json!({"read": [{"match": "any", "match_groups": []}]}));
        let all = rules(json!({"read": [{"match": "all", "match_groups": []}]}));
        assert!(!check(&any, AccessType::Read, &[], &[]));
        assert!(check(&all, AccessType::Read, &[], &[]));
        // An empty group object is skipped.
        let skipped = rules(json!({"read": [{"match": "any", "match_groups": [{},
            {"groups": {"match": "all", "require": ["x"]}}]}]}));
        assert!(!check(&skipped, AccessType::Read, &[], &[]));
        assert!(check(&skipped, AccessType::Read, &[], &["x"]));
    }

    #[test]
    fn group_match_any_unless_a_require_is_empty() {
        let any = rules(
            json!({"read": [{"match": "all", "match_groups": [{"match": "any",
            "rights": {"match": "all", "require": ["p"]}, "groups": {"match": "all", "require": ["g"]}}]}]}),
        );
        assert!(check(&any, AccessType::Read, &["p"], &[]));
        assert!(check(&any, AccessType::Read, &[], &["g"]));
        assert!(!check(&any, AccessType::Read, &[], &[]));
        // An empty rights list forces "all": the groups test alone decides.
        let forced = rules(
            json!({"read": [{"match": "all", "match_groups": [{"match": "any",
            "rights": {"match": "all", "require": []}, "groups": {"match": "all", "require": ["g"]}}]}]}),
        );
        assert!(!check(&forced, AccessType::Read, &["p"], &[]));
        assert!(check(&forced, AccessType::Read, &[], &["g"]));
    }

    #[test]
    fn explicit_grants_override_rules() {
        let rs = rules(json!({"read": [{"match": "any", "match_groups": []}]}));
        let empty = BTreeSet::new();
        let subject = Subject {
            permissions: &empty,
            groups: &empty,
        };
        assert!(!allows(&rs, AccessType::Read, subject, false));
        assert!(allows(&rs, AccessType::Read, subject, true));
    }

    #[test]
    fn unknown_match_values_and_fields_are_refused_at_parse_time() {
        assert!(
            serde_json::from_value::<RuleSet>(
                json!({"read": [{"match": "most", "match_groups": []}]})
            )
            .is_err()
        );
        assert!(serde_json::from_value::<RuleSet>(json!({"delete": []})).is_err());
        assert!(serde_json::from_value::<RuleSet>(json!({"read": [{"match": "all"}]})).is_err());
    }

    fn arb_requirement() -> impl Strategy<Value = Requirement> {
        (
            prop_oneof![Just(Match::All), Just(Match::Any)],
            prop::collection::vec("[abc]", 0..3),
        )
            .prop_map(|(mode, require)| Requirement { mode, require })
    }

    fn arb_rule() -> impl Strategy<Value = Rule> {
        let group = (
            prop::option::of(prop_oneof![Just(Match::All), Just(Match::Any)]),
            prop::option::of(arb_requirement()),
            prop::option::of(arb_requirement()),
        )
            .prop_map(|(mode, rights, groups)| MatchGroup {
                mode,
                rights,
                groups,
            });
        (
            prop_oneof![Just(Match::All), Just(Match::Any)],
            prop::collection::vec(group, 0..4),
        )
            .prop_map(|(mode, match_groups)| Rule { mode, match_groups })
    }

    fn arb_rules() -> impl Strategy<Value = RuleSet> {
        prop::collection::btree_map(
            prop_oneof![
                Just(AccessType::Read),
                Just(AccessType::Write),
                Just(AccessType::Move),
                Just(AccessType::Manage)
            ],
            prop::collection::vec(arb_rule(), 0..3),
            0..4,
        )
    }

    fn arb_names() -> impl Strategy<Value = BTreeSet<String>> {
        prop::collection::btree_set("[abc]", 0..3)
    }

    proptest! {
        #[test]
        fn write_or_manage_access_implies_read_access(rs in arb_rules(), p in arb_names(), g in arb_names()) {
            let s = Subject { permissions: &p, groups: &g };
            if allows(&rs, AccessType::Write, s, false) || allows(&rs, AccessType::Manage, s, false) {
                prop_assert!(allows(&rs, AccessType::Read, s, false));
            }
        }

        #[test]
        fn more_permissions_and_groups_never_lose_access_for_all_rules(rs in arb_rules(), p in arb_names(), g in arb_names(), extra in "[abc]") {
            // Monotonicity holds for rules built only from positive requirements, which all are.
            let s = Subject { permissions: &p, groups: &g };
            let (mut p2, mut g2) = (p.clone(), g.clone());
            p2.insert(extra.clone());
            g2.insert(extra);
            let s2 = Subject { permissions: &p2, groups: &g2 };
            for &t in AccessType::ALL {
                if allows(&rs, t, s, false) {
                    prop_assert!(allows(&rs, t, s2, false));
                }
            }
        }

        #[test]
        fn adding_a_rule_never_widens_access(rs in arb_rules(), extra in arb_rule(), t in 0usize..4, p in arb_names(), g in arb_names()) {
            let s = Subject { permissions: &p, groups: &g };
            let mut wider = rs.clone();
            wider.entry(AccessType::ALL[t]).or_default().push(extra);
            for &a in AccessType::ALL {
                if allows(&wider, a, s, false) {
                    prop_assert!(allows(&rs, a, s, false));
                }
            }
        }

        #[test]
        fn rule_sets_round_trip_through_json(rs in arb_rules()) {
            let json = serde_json::to_value(&rs).unwrap();
            let back: RuleSet = serde_json::from_value(json).unwrap();
            prop_assert_eq!(back, rs);
        }
    }
}
