//! The one error type of the crate's Rust API. The admin API maps it onto 400 and 404 answers;
//! nothing a caller sends ever panics.

/// A caller's mistake in the Rust or admin API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// No account has this id.
    #[error("unknown account {0:?}")]
    UnknownAccount(String),
    /// The provider has no such object type (HubSpot: `contacts`, `companies`; Salesforce:
    /// `Contact`, `Account`).
    #[error("unknown object type {0:?}; this provider has {1}")]
    UnknownObject(String, &'static str),
    /// No record has this id in that account and object.
    #[error("unknown record {0:?}")]
    UnknownRecord(String),
    /// No fault rule has this id.
    #[error("unknown fault rule {0}")]
    UnknownRule(u64),
    /// An option, body or field is malformed or out of range; the text says which.
    #[error("{0}")]
    Invalid(String),
}

impl MockError {
    /// The admin API's status for this error.
    pub fn status(&self) -> u16 {
        match self {
            MockError::UnknownAccount(_)
            | MockError::UnknownRecord(_)
            | MockError::UnknownRule(_) => 404,
            MockError::UnknownObject(..) | MockError::Invalid(_) => 400,
        }
    }
}
