//! Glob patterns over relative paths, as people write them in ignore
//! files: `*` (within one folder), `**` (any number of folders), `?`, and
//! `[abc]`. A pattern without `/` matches a file's name at any depth.

/// A parsed pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    segments: Vec<String>,
    anywhere: bool,
}

impl Pattern {
    /// Parses `text`.
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_start_matches("./");
        if text.is_empty() {
            return Err("an empty pattern".into());
        }
        if text.matches('[').count() != text.matches(']').count() {
            return Err("a `[` without its `]`".into());
        }
        let anywhere = !text.trim_end_matches('/').contains('/');
        let text = text.trim_start_matches('/');
        let mut segments: Vec<String> = text
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if text.ends_with('/') {
            segments.push("**".into());
        }
        Ok(Pattern { segments, anywhere })
    }

    /// Whether `path` (relative, `/`-separated) matches.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if self.anywhere && self.segments.len() == 1 {
            // A bare name pattern matches the file or any folder it is in.
            return parts.iter().any(|p| segment_matches(&self.segments[0], p));
        }
        match_segments(&self.segments, &parts)
    }
}

fn match_segments(pattern: &[String], parts: &[&str]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=parts.len()).any(|skip| match_segments(rest, &parts[skip..]))
        }
        Some((first, rest)) => match parts.split_first() {
            Some((part, others)) => segment_matches(first, part) && match_segments(rest, others),
            None => false,
        },
    }
}

fn segment_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches_at(&p, &t)
}

fn matches_at(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => (0..=t.len()).any(|skip| matches_at(&p[1..], &t[skip..])),
        Some('?') => !t.is_empty() && matches_at(&p[1..], &t[1..]),
        Some('[') => {
            let Some(end) = p.iter().position(|c| *c == ']') else {
                return false;
            };
            let class = &p[1..end];
            let (negate, class) = match class.first() {
                Some('!') | Some('^') => (true, &class[1..]),
                _ => (false, class),
            };
            let Some(c) = t.first() else { return false };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != negate && matches_at(&p[end + 1..], &t[1..])
        }
        Some(c) => t.first() == Some(c) && matches_at(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(path)
    }

    #[test]
    fn patterns_match_like_ignore_files() {
        assert!(m("*.tmp", "a/b/c.tmp"));
        assert!(!m("*.tmp", "a/b/c.txt"));
        assert!(m("target/**", "target/debug/x"));
        assert!(m("target/", "target/debug/x"));
        assert!(!m("target/**", "src/target.rs"));
        assert!(m("src/**/*.rs", "src/a/b/c.rs"));
        assert!(m("src/**/*.rs", "src/c.rs"));
        assert!(m("file?.[ch]", "dir/file1.c"));
        assert!(m("node_modules", "web/node_modules/x/y.js"));
        assert!(!m("src/*.rs", "src/a/b.rs"));
    }
}
