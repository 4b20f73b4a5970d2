//! Code the built-in providers share.
//!
//! - [`glob`]: patterns over relative paths, as in ignore files.
//! - [`buildspec`]: phases of shell commands run through the `process`
//!   grant in a workspace made of the input artifacts, and output
//!   artifacts collected by globs (the `command` providers), given by
//!   properties or by a CodeBuild buildspec.
//! - [`codebuild`]: CodeBuild buildspecs (version 0.2) read into a
//!   [`buildspec::Spec`].
//! - [`junit`]: counting passed, failed and skipped tests in JUnit XML.
//! - [`tar`]: writing a folder as a ustar archive.

pub mod buildspec;
pub mod codebuild;
pub use sluice_glob as glob;
pub mod junit;
pub mod tar;
