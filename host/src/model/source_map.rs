//! Where each value of a definition is in its file, so that errors found
//! after parsing can still point at a line and column.
//!
//! The file is read a second time by an event parser (JSON is YAML too)
//! that records the position of every value under its path, written the
//! way errors name it: `stages[2].actions[0].inputs[0]`.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Positions of a file's values by path.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    positions: HashMap<String, Position>,
}

impl SourceMap {
    /// Maps `text`; a file the parser cannot read maps to nothing (the
    /// deserializer reports the syntax error itself).
    pub fn of(text: &str) -> Self {
        if super::parse::nesting(text) > super::parse::MAX_NESTING {
            return SourceMap::default();
        }
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut builder, false);
        SourceMap {
            positions: builder.positions,
        }
    }

    /// The position of the value at `path`, or of its nearest ancestor
    /// that has one (a missing field is reported at its parent).
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(position) = self.positions.get(path) {
                return Some(*position);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Mapping { path: String, key: Option<String> },
    Sequence { path: String, index: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    depth_beyond: usize,
    positions: HashMap<String, Position>,
}

impl Builder {
    /// The path of the value about to be read, and whether it is a mapping
    /// key rather than a value.
    fn next_path(&self) -> (String, bool) {
        match self.stack.last() {
            None => (String::new(), false),
            Some(Frame::Sequence { path, index }) => (format!("{path}[{index}]"), false),
            Some(Frame::Mapping { path, key: None }) => (path.clone(), true),
            Some(Frame::Mapping {
                path,
                key: Some(key),
            }) => {
                if path.is_empty() {
                    (key.clone(), false)
                } else {
                    (format!("{path}.{key}"), false)
                }
            }
        }
    }

    /// A value was read: advance the enclosing frame.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Sequence { index, .. }) => *index += 1,
            Some(Frame::Mapping { key, .. }) => *key = None,
            None => {}
        }
    }

    fn record(&mut self, path: &str, mark: Marker) {
        self.positions.entry(path.to_string()).or_insert(Position {
            line: mark.line(),
            column: mark.col() + 1,
        });
    }
}

/// Values nested deeper than this are not mapped: no definition goes
/// that deep, and adversarial input must not cost quadratic time.
const MAX_DEPTH: usize = 32;

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.stack.len() > MAX_DEPTH {
            match event {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.depth_beyond += 1,
                Event::MappingEnd | Event::SequenceEnd if self.depth_beyond > 0 => {
                    self.depth_beyond -= 1
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    self.stack.pop();
                    self.value_done();
                }
                _ => {}
            }
            return;
        }
        match event {
            Event::Scalar(text, ..) => {
                let (path, is_key) = self.next_path();
                if is_key {
                    if let Some(Frame::Mapping { key, .. }) = self.stack.last_mut() {
                        *key = Some(text);
                    }
                } else {
                    self.record(&path, mark);
                    self.value_done();
                }
            }
            Event::MappingStart(..) => {
                let (path, _) = self.next_path();
                self.record(&path, mark);
                self.stack.push(Frame::Mapping { path, key: None });
            }
            Event::SequenceStart(..) => {
                let (path, _) = self.next_path();
                self.record(&path, mark);
                self.stack.push(Frame::Sequence { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            Event::Alias(_) => self.value_done(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_lines_and_columns() {
        let text = "name: x\nstages:\n  - name: A\n    actions:\n      - name: a\n        inputs: [one, two]\n";
        let map = SourceMap::of(text);
        assert_eq!(map.find("name"), Some(Position { line: 1, column: 7 }));
        assert_eq!(
            map.find("stages[0].name"),
            Some(Position {
                line: 3,
                column: 11
            })
        );
        assert_eq!(
            map.find("stages[0].actions[0].inputs[1]"),
            Some(Position {
                line: 6,
                column: 23
            })
        );
        // A missing value is placed at its nearest ancestor.
        assert_eq!(map.find("stages[0].actions[0].outputs[0]").unwrap().line, 5);
    }

    #[test]
    fn json_maps_too() {
        let text = "{\n  \"name\": \"x\",\n  \"stages\": [ {\"name\": \"A\"} ]\n}";
        let map = SourceMap::of(text);
        assert_eq!(map.find("stages[0].name").unwrap().line, 3);
    }
}
