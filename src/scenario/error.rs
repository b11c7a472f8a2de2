//! The one error a scenario file can produce. Whatever went wrong, it names the file, the place
//! (line and column when the YAML parser knows them, else the step) and what was expected, so
//! that `transfersim check` can print it and exit 2.

use std::fmt;

/// Where in a file an error is, as far as it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// A scenario file that cannot be used: unreadable, not valid YAML for the format, or valid
/// YAML that breaks a rule of the format.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ScenarioError {
    /// The YAML does not fit the format's types: a syntax error, an unknown field, a wrong type.
    #[error("{}: {message}", Located(.file, .position))]
    #[diagnostic(
        code(transfersim::scenario::format),
        help("see spec/scenario-format.md or spec/scenario.schema.json")
    )]
    Format {
        file: String,
        position: Option<Position>,
        message: String,
    },
    /// The file fits the types but breaks a rule of the format (an undeclared key, a bad
    /// requirement ID, a limit); `at` names the field or step, e.g. `steps[3] (request)`.
    #[error("{file}: {at}: {message}")]
    #[diagnostic(
        code(transfersim::scenario::invalid),
        help("see spec/scenario-format.md")
    )]
    Invalid {
        file: String,
        at: String,
        message: String,
    },
    /// Two files in one suite share a scenario name, so reports could not tell them apart.
    #[error("{file}: scenario name `{name}` is already used by {other}")]
    #[diagnostic(code(transfersim::scenario::duplicate_name))]
    DuplicateName {
        file: String,
        name: String,
        other: String,
    },
    /// The file or folder could not be read.
    #[error("{file}: cannot read: {source}")]
    #[diagnostic(code(transfersim::scenario::read))]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
}

impl ScenarioError {
    /// The file the error is in, as given to [`super::parse`].
    pub fn file(&self) -> &str {
        match self {
            Self::Format { file, .. }
            | Self::Invalid { file, .. }
            | Self::DuplicateName { file, .. }
            | Self::Read { file, .. } => file,
        }
    }

    /// The line and column, when the parser knew them.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Format { position, .. } => *position,
            _ => None,
        }
    }
}

/// Renders `file:line:column`, or `file` alone when the position is unknown.
struct Located<'a>(&'a String, &'a Option<Position>);

impl fmt::Display for Located<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(position) => write!(
                formatter,
                "{}:{}:{}",
                self.0, position.line, position.column
            ),
            None => write!(formatter, "{}", self.0),
        }
    }
}
