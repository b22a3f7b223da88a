//! The six outcomes of Immuta's `outcome` filter, and how one is derived when a record has none.

use serde::{Deserialize, Serialize};

/// Outcome of an audited action, as Immuta's `GET /audit?outcome=` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Success,
    UserError,
    SystemError,
    InsufficientAuthorizations,
    Failure,
    InsufficientPermissions,
}

impl Outcome {
    /// Every outcome, in the order of the seed's documentation.
    pub const ALL: [Outcome; 6] = [
        Outcome::Success,
        Outcome::UserError,
        Outcome::SystemError,
        Outcome::InsufficientAuthorizations,
        Outcome::Failure,
        Outcome::InsufficientPermissions,
    ];

    /// The wire name (`success`, `userError`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::UserError => "userError",
            Outcome::SystemError => "systemError",
            Outcome::InsufficientAuthorizations => "insufficientAuthorizations",
            Outcome::Failure => "failure",
            Outcome::InsufficientPermissions => "insufficientPermissions",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// A stable small code, used by storage columns.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`Outcome::code`].
    pub fn from_code(code: u8) -> Option<Outcome> {
        Outcome::ALL.get(code as usize).copied()
    }

    /// Legacy records without an `outcome`: `success: true` is a success, `false` a failure.
    pub fn from_success(success: bool) -> Outcome {
        if success {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }

    /// UAM `actionStatus`: SUCCESS, FAILURE, UNAUTHORIZED.
    pub fn from_action_status(status: &str) -> Option<Outcome> {
        match status {
            "SUCCESS" => Some(Outcome::Success),
            "FAILURE" => Some(Outcome::Failure),
            "UNAUTHORIZED" => Some(Outcome::InsufficientAuthorizations),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            assert_eq!(Outcome::from_code(o.code()), Some(o));
        }
        assert_eq!(Outcome::parse("SUCCESS"), None);
    }

    #[test]
    fn derivation_from_success_and_action_status() {
        assert_eq!(Outcome::from_success(true), Outcome::Success);
        assert_eq!(Outcome::from_success(false), Outcome::Failure);
        assert_eq!(
            Outcome::from_action_status("UNAUTHORIZED"),
            Some(Outcome::InsufficientAuthorizations)
        );
        assert_eq!(
            Outcome::from_action_status("FAILURE"),
            Some(Outcome::Failure)
        );
        assert_eq!(
            Outcome::from_action_status("SUCCESS"),
            Some(Outcome::Success)
        );
        assert_eq!(Outcome::from_action_status("maybe"), None);
    }
}
