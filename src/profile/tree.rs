//! Folded stacks as a flame graph tree: the terminal view's model.
//!
//! Node 0 is the root (`all`); a node's children are its callees with equal
//! frames merged, sorted by function name as flame graphs draw them, so the
//! layout is the same from one refresh to the next.

use std::collections::HashMap;

use crate::event::Frame;
use crate::profile::fold::{Folded, FrameKind, Weight};

pub type NodeId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub frame: Frame,
    pub kind: FrameKind,
    /// Value of this frame and everything it called.
    pub total: u64,
    /// Value of this frame as the leaf.
    pub self_value: u64,
    pub parent: Option<NodeId>,
    pub children: Vec<NodeId>,
    /// 0 for the root.
    pub depth: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlameTree {
    nodes: Vec<Node>,
    pub weight: Weight,
}

impl FlameTree {
    pub const ROOT: NodeId = 0;

    pub fn new(folded: &Folded) -> FlameTree {
        let root = Node {
            frame: Frame {
                function: "all".to_owned(),
                module: crate::profile::fold::DFLOW_MODULE.to_owned(),
                kernel: false,
            },
            kind: FrameKind::Dflow,
            total: 0,
            self_value: 0,
            parent: None,
            children: Vec::new(),
            depth: 0,
        };
        let mut nodes = vec![root];
        let mut index: HashMap<(NodeId, &Frame), NodeId> = HashMap::new();
        for stack in &folded.stacks {
            let mut at = FlameTree::ROOT;
            nodes[at].total += stack.value;
            for frame in &stack.frames {
                let next = *index.entry((at, frame)).or_insert_with(|| {
                    let id = nodes.len();
                    nodes.push(Node {
                        frame: frame.clone(),
                        kind: FrameKind::of(frame),
                        total: 0,
                        self_value: 0,
                        parent: Some(at),
                        children: Vec::new(),
                        depth: nodes[at].depth + 1,
                    });
                    nodes[at].children.push(id);
                    id
                });
                nodes[next].total += stack.value;
                at = next;
            }
            nodes[at].self_value += stack.value;
        }
        let mut order: Vec<Vec<NodeId>> = nodes.iter().map(|n| n.children.clone()).collect();
        for children in &mut order {
            children.sort_by(|&a, &b| nodes[a].frame.cmp(&nodes[b].frame));
        }
        for (node, children) in nodes.iter_mut().zip(order) {
            node.children = children;
        }
        FlameTree {
            nodes,
            weight: folded.weight,
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    pub fn is_empty(&self) -> bool {
        self.nodes[FlameTree::ROOT].total == 0
    }

    pub fn total(&self) -> u64 {
        self.nodes[FlameTree::ROOT].total
    }

    /// The nodes from the root down to `id`, both included.
    pub fn path(&self, id: NodeId) -> Vec<NodeId> {
        let mut path = vec![id];
        let mut at = id;
        while let Some(parent) = self.nodes[at].parent {
            path.push(parent);
            at = parent;
        }
        path.reverse();
        path
    }

    /// The node reached from the root through frames with these function
    /// names, if the tree has one (tests address nodes this way).
    #[cfg(test)]
    pub fn find_path(&self, names: &[&str]) -> Option<NodeId> {
        let mut at = FlameTree::ROOT;
        for name in names {
            at = *self.nodes[at]
                .children
                .iter()
                .find(|&&c| self.nodes[c].frame.function == *name)?;
        }
        Some(at)
    }

    /// Whether a node's function contains `pattern` (case-insensitive).
    pub fn is_match(&self, id: NodeId, pattern: &str) -> bool {
        contains_ignore_case(&self.nodes[id].frame.function, pattern)
    }

    /// The value under frames matching `pattern` within the subtree of
    /// `under`, a match below another match counted once.
    pub fn matched(&self, under: NodeId, pattern: &str) -> u64 {
        if pattern.is_empty() {
            return 0;
        }
        let mut sum = 0;
        let mut todo = vec![under];
        while let Some(id) = todo.pop() {
            if self.is_match(id, pattern) {
                sum += self.nodes[id].total;
            } else {
                todo.extend(&self.nodes[id].children);
            }
        }
        sum
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        let h = haystack.as_bytes();
        let n = needle.as_bytes();
        n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        haystack.to_lowercase().contains(&needle.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::fold::FoldedStack;

    pub fn folded(lines: &[(&str, u64)]) -> Folded {
        Folded {
            weight: Weight::Samples,
            stacks: lines
                .iter()
                .map(|(l, v)| FoldedStack {
                    frames: l
                        .split(';')
                        .map(|f| Frame {
                            function: f.to_owned(),
                            module: "/bin/app".to_owned(),
                            kernel: false,
                        })
                        .collect(),
                    value: *v,
                })
                .collect(),
        }
    }

    #[test]
    fn totals_self_values_and_order() {
        let t = FlameTree::new(&folded(&[
            ("app;main;hot", 7),
            ("app;main;cold", 3),
            ("app;main", 1),
        ]));
        assert_eq!(t.total(), 11);
        let main = t.find_path(&["app", "main"]).unwrap();
        assert_eq!((t.node(main).total, t.node(main).self_value), (11, 1));
        let names: Vec<&str> = t
            .node(main)
            .children
            .iter()
            .map(|&c| t.node(c).frame.function.as_str())
            .collect();
        assert_eq!(names, ["cold", "hot"]);
        let hot = t.find_path(&["app", "main", "hot"]).unwrap();
        let names: Vec<&str> = t.path(hot)[1..]
            .iter()
            .map(|&n| t.node(n).frame.function.as_str())
            .collect();
        assert_eq!(names, ["app", "main", "hot"]);
        assert_eq!(t.node(hot).depth, 3);
        assert_eq!(t.find_path(&["app", "nope"]), None);
    }

    #[test]
    fn matches_count_nested_matches_once() {
        let t = FlameTree::new(&folded(&[("app;run;run_inner", 4), ("app;other", 6)]));
        assert_eq!(t.matched(FlameTree::ROOT, "RUN"), 4);
        assert_eq!(t.matched(FlameTree::ROOT, "o"), 6);
        assert_eq!(t.matched(FlameTree::ROOT, ""), 0);
    }
}
