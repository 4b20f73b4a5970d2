//! Reading git repositories without git.
