//! Counting tests in JUnit XML reports: every `<testcase>` is passed unless
//! it holds a `<failure>` or `<error>` (failed) or a `<skipped>` (skipped).
//! A tolerant scanner, not a full XML parser: reports come from many tools.

/// Test counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed or errored.
    pub failed: u64,
    /// Tests that were skipped.
    pub skipped: u64,
}

impl Counts {
    /// Adds another report's counts.
    pub fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// Every test counted.
    pub fn total(&self) -> u64 {
        self.passed + self.failed + self.skipped
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Counts the test cases of one report, with the names of failed ones.
pub fn count(xml: &str) -> Result<(Counts, Vec<String>), String> {
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    let mut rest = xml;
    let mut seen_root = false;
    while let Some(start) = rest.find("<testcase") {
        seen_root = true;
        let after = &rest[start + "<testcase".len()..];
        if !after.starts_with([' ', '\t', '\n', '\r', '>', '/']) {
            rest = after;
            continue;
        }
        let tag_end = after.find('>').ok_or("a <testcase> tag is not closed")?;
        let tag = &after[..tag_end];
        let name = attribute(tag, "name").unwrap_or_else(|| "(unnamed)".into());
        let (body, next) = if tag.ends_with('/') {
            ("", &after[tag_end + 1..])
        } else {
            let close = after
                .find("</testcase>")
                .ok_or_else(|| format!("test case `{name}` is not closed"))?;
            (
                &after[tag_end + 1..close],
                &after[close + "</testcase>".len()..],
            )
        };
        if body.contains("<failure") || body.contains("<error") {
            counts.failed += 1;
            failures.push(name);
        } else if body.contains("<skipped") {
            counts.skipped += 1;
        } else {
            counts.passed += 1;
        }
        rest = next;
    }
    if !seen_root && !xml.contains("<testsuite") {
        return Err("not a JUnit report (no <testsuite> or <testcase>)".into());
    }
    Ok((counts, failures))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    // ` name=`, not the end of `classname=`.
    let key = format!("{name}=");
    let at = tag
        .match_indices(&key)
        .find(|(i, _)| *i == 0 || tag[..*i].ends_with(char::is_whitespace))?
        .0
        + key.len();
    let quote = tag[at..].chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let value = &tag[at + 1..];
    let end = value.find(quote)?;
    Some(
        value[..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_passed_failed_and_skipped_cases() {
        let xml = r#"<?xml version="1.0"?>
<testsuites><testsuite name="s" tests="4">
  <testcase classname="math" name="adds"/>
  <testcase name="divides"><failure message="boom">trace</failure></testcase>
  <testcase name="later"><skipped/></testcase>
  <testcase name="crashes"><error>x</error></testcase>
  <testcase name="a &amp; b"></testcase>
</testsuite></testsuites>"#;
        let (counts, failures) = count(xml).unwrap();
        assert_eq!(
            counts,
            Counts {
                passed: 2,
                failed: 2,
                skipped: 1
            }
        );
        assert_eq!(failures, ["divides", "crashes"]);
        assert_eq!(counts.to_string(), "2 passed, 2 failed, 1 skipped");
        assert!(count("<html/>").is_err());
        assert_eq!(count("<testsuite/>").unwrap().0.total(), 0);
    }
}
