//! The DRF sorter: orders clients (roles, or the frameworks of one role) by
//! weighted dominant share, as Mesos's `DRFSorter` does.
//!
//! Clients are leaves of a tree. In a hierarchical sorter (the role sorter)
//! a client path `a/b/c` nests under internal nodes `a` and `a/b`; an
//! internal node's allocation is the sum of its subtree, and siblings are
//! ordered among themselves, so a parent's share includes its children. A
//! client whose path is also an ancestor of other clients (`a` beside
//! `a/b`) lives in a virtual leaf `a/.` under the internal node `a`, with
//! the default weight, exactly as in Mesos. A flat sorter (one per role,
//! for its frameworks) puts every client directly under the root.
//!
//! Siblings are kept in a `BTreeSet` ordered by `(share, allocation count,
//! path)`; only internal nodes and active leaves are in it. An allocation
//! re-keys the leaf and its ancestors (`O(depth · log siblings)`), and a
//! change of the cluster total (which moves every share) marks the whole
//! sorter stale until [`Sorter::refresh`] recomputes it once.
//!
//! Iterating in order while allocating uses a [`Cursor`]: a depth-first walk
//! that resumes after the last key it returned. A client re-keyed by an
//! allocation moves later in the order and would be met again; every node a
//! cursor has finished carries the cursor's epoch and is skipped, so one walk
//! yields each active client once, in the order of the tree when it started,
//! like iterating over Mesos's `sort()` result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use super::quantities::Quantities;

/// Index of a node in [`Sorter::nodes`].
type NodeId = u32;

/// The root: an internal node with an empty path, never in any set.
const ROOT: NodeId = 0;

/// Weight of a path with none configured (Mesos's `DEFAULT_WEIGHT`).
pub(crate) const DEFAULT_WEIGHT: f64 = 1.0;

/// The cluster's scalar totals the shares are relative to.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Sum of every agent's scalar total, per name id.
    pub(crate) total: Quantities,
    /// Name ids left out of fair sharing
    /// (`--fair_sharing_excluded_resource_names`).
    pub(crate) excluded: Vec<bool>,
    /// Bumped on every change of `total`; sorters compare it with theirs.
    pub(crate) generation: u64,
}

impl Totals {
    /// The dominant share of `alloc`, before weighting: the largest
    /// fraction of the cluster total over non-excluded resources.
    pub(crate) fn dominant_share(&self, alloc: &Quantities) -> f64 {
        let mut share = 0.0f64;
        for (i, &t) in self.total.0.iter().enumerate() {
            if t <= 0 || self.excluded.get(i).copied().unwrap_or(false) {
                continue;
            }
            let a = alloc.get(i);
            if a > 0 {
                share = share.max(a as f64 / t as f64);
            }
        }
        share
    }
}

/// A node's position among its siblings. Shares are non-negative, so the
/// bits of the `f64` order like the value; `rank` orders like the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    share: u64,
    count: u64,
    rank: u64,
    node: NodeId,
}

#[derive(Debug)]
struct Node {
    /// Full path; a virtual leaf's ends in `/.`.
    path: Arc<str>,
    parent: NodeId,
    /// `Some` for a client leaf: the caller's client id and whether it is
    /// active (offered to). `None` for internal nodes and the root.
    leaf: Option<(u32, bool)>,
    /// Internal nodes and active leaves among the children, in DRF order.
    children: BTreeSet<Key>,
    /// All children, active or not, by path; an internal node with none is
    /// removed.
    names: BTreeMap<Arc<str>, NodeId>,
    /// Among siblings, ranks order like paths, so that ties are broken by
    /// path (as in Mesos) with an integer comparison. They are spread over
    /// `u64` and renumbered when two neighbours leave no gap.
    rank: u64,
    /// Scalar allocation of the subtree.
    alloc: Quantities,
    /// How many allocations the subtree was chosen for (the tie-breaker).
    count: u64,
    weight: f64,
    /// The key under which the node sits in its parent's `children` (valid
    /// when `in_set`).
    key: Key,
    in_set: bool,
    /// Epoch of the last cursor that returned or finished this node.
    visited: u64,
}

impl Node {
    fn sortable(&self) -> bool {
        match self.leaf {
            Some((_, active)) => active,
            None => true,
        }
    }
}

/// A DRF sorter over client ids chosen by the caller.
#[derive(Debug)]
pub(crate) struct Sorter {
    /// Whether `/` in a path nests (the role sorter) or not (frameworks).
    hierarchical: bool,
    /// Slots; freed ones are listed in `free`.
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// Client id to its leaf.
    clients: HashMap<u32, NodeId>,
    /// Path to node, for nesting and weights.
    paths: HashMap<Arc<str>, NodeId>,
    /// Configured weights by path; kept for nodes created later.
    weights: HashMap<String, f64>,
    /// [`Totals::generation`] the keys were computed with.
    generation: u64,
}

/// An in-order walk over a sorter's active clients; see the module docs.
#[derive(Debug)]
pub(crate) struct Cursor {
    epoch: u64,
    stack: Vec<(NodeId, Option<Key>)>,
}

impl Sorter {
    /// An empty sorter; `hierarchical` makes `/` in paths nest.
    pub(crate) fn new(hierarchical: bool) -> Sorter {
        let root = Node {
            path: Arc::from(""),
            parent: ROOT,
            leaf: None,
            children: BTreeSet::new(),
            names: BTreeMap::new(),
            rank: 0,
            alloc: Quantities::default(),
            count: 0,
            weight: DEFAULT_WEIGHT,
            key: Key {
                share: 0,
                count: 0,
                rank: 0,
                node: ROOT,
            },
            in_set: false,
            visited: 0,
        };
        Sorter {
            hierarchical,
            nodes: vec![root],
            free: Vec::new(),
            clients: HashMap::new(),
            paths: HashMap::new(),
            weights: HashMap::new(),
            generation: u64::MAX,
        }
    }

    /// Whether `client` is in the sorter.
    #[cfg(test)]
    pub(crate) fn contains(&self, client: u32) -> bool {
        self.clients.contains_key(&client)
    }

    /// Whether the sorter has no client.
    pub(crate) fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    fn key_of(&self, id: NodeId, totals: &Totals) -> Key {
        let n = self.node(id);
        let share = totals.dominant_share(&n.alloc) / n.weight;
        Key {
            share: share.to_bits(),
            count: n.count,
            rank: n.rank,
            node: id,
        }
    }

    /// Recomputes a node's key and its place among its siblings.
    fn rekey(&mut self, id: NodeId, totals: &Totals) {
        let key = self.key_of(id, totals);
        let n = self.node(id);
        if n.key == key {
            return;
        }
        let (parent, in_set, old) = (n.parent, n.in_set, n.key);
        if in_set {
            let siblings = &mut self.node_mut(parent).children;
            siblings.remove(&old);
            siblings.insert(key);
        }
        self.node_mut(id).key = key;
    }

    /// Puts a node in or out of its parent's ordered set.
    fn set_in_set(&mut self, id: NodeId, in_set: bool) {
        let n = self.node(id);
        if n.in_set == in_set {
            return;
        }
        let (parent, key) = (n.parent, n.key);
        let siblings = &mut self.node_mut(parent).children;
        if in_set {
            siblings.insert(key);
        } else {
            siblings.remove(&key);
        }
        self.node_mut(id).in_set = in_set;
    }

    fn new_node(
        &mut self,
        path: Arc<str>,
        parent: NodeId,
        leaf: Option<(u32, bool)>,
        totals: &Totals,
    ) -> NodeId {
        let weight = self.weights.get(&*path).copied().unwrap_or(DEFAULT_WEIGHT);
        let node = Node {
            path: path.clone(),
            parent,
            leaf,
            children: BTreeSet::new(),
            names: BTreeMap::new(),
            rank: 0,
            alloc: Quantities::default(),
            count: 0,
            weight,
            key: Key {
                share: 0,
                count: 0,
                rank: 0,
                node: 0,
            },
            in_set: false,
            visited: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as NodeId
            }
        };
        self.paths.insert(path.clone(), id);
        self.place(id, parent, path, totals);
        self.node_mut(id).key = self.key_of(id, totals);
        let sortable = self.node(id).sortable();
        self.set_in_set(id, sortable);
        id
    }

    /// Lists new node `id` among its parent's children and gives it a rank
    /// between its neighbours by path.
    fn place(&mut self, id: NodeId, parent: NodeId, path: Arc<str>, totals: &Totals) {
        let names = &mut self.node_mut(parent).names;
        names.insert(path.clone(), id);
        let before = names
            .range::<str, _>((Bound::Unbounded, Bound::Excluded(&*path)))
            .next_back()
            .map(|(_, &n)| n);
        let after = names
            .range::<str, _>((Bound::Excluded(&*path), Bound::Unbounded))
            .next()
            .map(|(_, &n)| n);
        let low = before.map_or(0, |n| self.node(n).rank);
        let high = after.map_or(u64::MAX, |n| self.node(n).rank);
        if high - low >= 2 {
            self.node_mut(id).rank = low + (high - low) / 2;
        } else {
            self.renumber(parent, totals);
        }
    }

    /// Spreads the ranks of `parent`'s children evenly again.
    fn renumber(&mut self, parent: NodeId, totals: &Totals) {
        let children: Vec<NodeId> = self.node(parent).names.values().copied().collect();
        let step = u64::MAX / (children.len() as u64 + 1);
        self.node_mut(parent).children.clear();
        for (i, &c) in children.iter().enumerate() {
            self.node_mut(c).rank = step * (i as u64 + 1);
            let key = self.key_of(c, totals);
            let n = self.node_mut(c);
            n.key = key;
            if n.in_set {
                self.node_mut(parent).children.insert(key);
            }
        }
    }

    /// Adds `client` at `path`, inactive, with no allocation. Adding a
    /// client twice is a no-op.
    pub(crate) fn add(&mut self, client: u32, path: &str, totals: &Totals) {
        if self.clients.contains_key(&client) {
            return;
        }
        let leaf = if !self.hierarchical {
            self.new_node(Arc::from(path), ROOT, Some((client, false)), totals)
        } else {
            let mut parent = ROOT;
            let mut end = 0;
            loop {
                let next = path[end..].find('/').map(|i| end + i);
                let prefix = &path[..next.unwrap_or(path.len())];
                let last = next.is_none();
                match self.paths.get(prefix).copied() {
                    Some(existing) if !last => {
                        if self.node(existing).leaf.is_some() {
                            self.make_internal(existing, totals);
                        }
                        parent = existing;
                    }
                    Some(existing) => {
                        // The path is already an internal node: the client
                        // goes into its virtual leaf.
                        let virt: Arc<str> = Arc::from(format!("{prefix}/."));
                        break self.new_node(virt, existing, Some((client, false)), totals);
                    }
                    None if !last => {
                        parent = self.new_node(Arc::from(prefix), parent, None, totals);
                    }
                    None => {
                        break self.new_node(
                            Arc::from(prefix),
                            parent,
                            Some((client, false)),
                            totals,
                        );
                    }
                }
                end = next.map_or(path.len(), |i| i + 1);
            }
        };
        self.clients.insert(client, leaf);
    }

    /// Turns leaf `id` into an internal node whose virtual leaf `path/.`
    /// takes over the client, its allocation and count.
    fn make_internal(&mut self, id: NodeId, totals: &Totals) {
        let Some((client, active)) = self.node_mut(id).leaf.take() else {
            return;
        };
        self.set_in_set(id, true);
        let virt: Arc<str> = Arc::from(format!("{}/.", self.node(id).path));
        let v = self.new_node(virt, id, Some((client, false)), totals);
        let (alloc, count) = (self.node(id).alloc.clone(), self.node(id).count);
        let vn = self.node_mut(v);
        vn.alloc = alloc;
        vn.count = count;
        self.rekey(v, totals);
        self.clients.insert(client, v);
        if active {
            self.activate(client);
        }
    }

    /// Removes `client`, taking its allocation out of its ancestors and
    /// dropping internal nodes left without children.
    pub(crate) fn remove(&mut self, client: u32, totals: &Totals) {
        let Some(leaf) = self.clients.remove(&client) else {
            return;
        };
        let alloc = self.node(leaf).alloc.clone();
        let mut n = self.node(leaf).parent;
        while n != ROOT {
            self.node_mut(n).alloc.sub(&alloc);
            self.rekey(n, totals);
            n = self.node(n).parent;
        }
        let mut id = leaf;
        loop {
            self.set_in_set(id, false);
            let parent = self.node(id).parent;
            let path = self.node(id).path.clone();
            self.node_mut(parent).names.remove(&path);
            self.paths.remove(&path);
            self.node_mut(id).children.clear();
            self.free.push(id);
            if parent == ROOT || !self.node(parent).names.is_empty() {
                break;
            }
            id = parent;
        }
    }

    /// Makes `client` eligible for offers.
    pub(crate) fn activate(&mut self, client: u32) {
        self.set_active(client, true);
    }

    /// Keeps `client` (and its allocation) but skips it in walks.
    pub(crate) fn deactivate(&mut self, client: u32) {
        self.set_active(client, false);
    }

    fn set_active(&mut self, client: u32, active: bool) {
        let Some(&leaf) = self.clients.get(&client) else {
            return;
        };
        if let Some((_, a)) = &mut self.node_mut(leaf).leaf {
            *a = active;
        }
        self.set_in_set(leaf, active);
    }

    /// Whether `client` is in the sorter and active.
    pub(crate) fn is_active(&self, client: u32) -> bool {
        self.clients
            .get(&client)
            .and_then(|&l| self.node(l).leaf)
            .is_some_and(|(_, a)| a)
    }

    /// Records an allocation of `q` to `client` (and its ancestors).
    pub(crate) fn allocated(&mut self, client: u32, q: &Quantities, totals: &Totals) {
        let Some(&leaf) = self.clients.get(&client) else {
            return;
        };
        let mut n = leaf;
        while n != ROOT {
            let node = self.node_mut(n);
            node.alloc.add(q);
            node.count += 1;
            self.rekey(n, totals);
            n = self.node(n).parent;
        }
    }

    /// Records that `q` allocated to `client` came back.
    pub(crate) fn unallocated(&mut self, client: u32, q: &Quantities, totals: &Totals) {
        let Some(&leaf) = self.clients.get(&client) else {
            return;
        };
        let mut n = leaf;
        while n != ROOT {
            self.node_mut(n).alloc.sub(q);
            self.rekey(n, totals);
            n = self.node(n).parent;
        }
    }

    /// Replaces `old` by `new` in what `client` holds without counting an
    /// allocation (an operation changed the shape of held resources).
    pub(crate) fn reallocated(
        &mut self,
        client: u32,
        old: &Quantities,
        new: &Quantities,
        totals: &Totals,
    ) {
        let Some(&leaf) = self.clients.get(&client) else {
            return;
        };
        let mut n = leaf;
        while n != ROOT {
            let node = self.node_mut(n);
            node.alloc.sub(old);
            node.alloc.add(new);
            self.rekey(n, totals);
            n = self.node(n).parent;
        }
    }

    /// The scalar allocation of `client`.
    pub(crate) fn allocation(&self, client: u32) -> Option<&Quantities> {
        self.clients.get(&client).map(|&l| &self.node(l).alloc)
    }

    /// The weighted dominant share of `client`.
    pub(crate) fn share(&self, client: u32, totals: &Totals) -> Option<f64> {
        let &l = self.clients.get(&client)?;
        let n = self.node(l);
        Some(totals.dominant_share(&n.alloc) / n.weight)
    }

    /// Sets the weight of `path` (a client or an ancestor path).
    pub(crate) fn set_weight(&mut self, path: &str, weight: f64, totals: &Totals) {
        self.weights.insert(path.to_string(), weight);
        if let Some(&id) = self.paths.get(path) {
            self.node_mut(id).weight = weight;
            self.rekey(id, totals);
        }
    }

    /// Recomputes every key if the cluster total changed since the last
    /// refresh. Walks must start from a fresh sorter.
    pub(crate) fn refresh(&mut self, totals: &Totals) {
        if self.generation == totals.generation {
            return;
        }
        for n in &mut self.nodes {
            n.children.clear();
            n.in_set = false;
        }
        let live: Vec<NodeId> = self.paths.values().copied().collect();
        for &id in &live {
            self.node_mut(id).key = self.key_of(id, totals);
        }
        for &id in &live {
            let sortable = self.node(id).sortable();
            self.set_in_set(id, sortable);
        }
        self.generation = totals.generation;
    }

    /// Starts a walk; `epoch` must differ from every earlier walk's.
    pub(crate) fn cursor(&self, epoch: u64) -> Cursor {
        Cursor {
            epoch,
            stack: vec![(ROOT, None)],
        }
    }

    /// The next active client of the walk, or `None` at its end.
    pub(crate) fn next(&mut self, cursor: &mut Cursor) -> Option<u32> {
        loop {
            let (node, last) = cursor.stack.last()?;
            let children = &self.node(*node).children;
            let mut range = match last {
                None => children.range::<Key, _>(..),
                Some(k) => children.range::<Key, _>((Bound::Excluded(k), Bound::Unbounded)),
            };
            let found = range
                .find(|k| self.node(k.node).visited != cursor.epoch)
                .copied();
            match found {
                None => {
                    let node = *node;
                    self.node_mut(node).visited = cursor.epoch;
                    cursor.stack.pop();
                }
                Some(key) => {
                    let child = key.node;
                    if let Some(top) = cursor.stack.last_mut() {
                        top.1 = Some(key);
                    }
                    match self.node(child).leaf {
                        Some((client, _)) => {
                            self.node_mut(child).visited = cursor.epoch;
                            return Some(client);
                        }
                        None => cursor.stack.push((child, None)),
                    }
                }
            }
        }
    }

    /// All active clients in order (a fresh sorter is assumed).
    #[cfg(test)]
    pub(crate) fn sorted(&self) -> Vec<u32> {
        let mut out = Vec::new();
        self.collect(ROOT, &mut out);
        out
    }

    #[cfg(test)]
    fn collect(&self, id: NodeId, out: &mut Vec<u32>) {
        for k in &self.node(id).children {
            match self.node(k.node).leaf {
                Some((client, _)) => out.push(client),
                None => self.collect(k.node, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::quantities::Names;
    use mesos::resources::Resources;

    fn totals(names: &mut Names, total: &str) -> Totals {
        Totals {
            total: names.quantities(&Resources::parse(total).unwrap()),
            excluded: Vec::new(),
            generation: 1,
        }
    }

    fn q(names: &mut Names, r: &str) -> Quantities {
        names.quantities(&Resources::parse(r).unwrap())
    }

    fn walk(s: &mut Sorter, epoch: u64) -> Vec<u32> {
        let mut c = s.cursor(epoch);
        std::iter::from_fn(|| s.next(&mut c)).collect()
    }

    #[test]
    fn orders_by_share_then_count_then_path() {
        let mut names = Names::default();
        let t = totals(&mut names, "cpus:10;mem:100");
        let mut s = Sorter::new(false);
        for (id, path) in [(1, "b"), (2, "a"), (3, "c")] {
            s.add(id, path, &t);
            s.activate(id);
        }
        s.refresh(&t);
        assert_eq!(s.sorted(), [2, 1, 3], "equal shares: by path");
        s.allocated(2, &q(&mut names, "cpus:1"), &t);
        s.allocated(1, &q(&mut names, "mem:20"), &t);
        assert_eq!(s.sorted(), [3, 2, 1], "0 < 0.1 < 0.2");
        s.unallocated(1, &q(&mut names, "mem:10"), &t);
        assert_eq!(s.sorted(), [3, 2, 1], "0.1 == 0.1, but 2 is 'a'");
        s.allocated(3, &q(&mut names, "cpus:1"), &t);
        s.unallocated(3, &q(&mut names, "cpus:1"), &t);
        s.add(4, "d", &t);
        s.activate(4);
        assert_eq!(
            s.sorted(),
            [4, 3, 2, 1],
            "3 and 4 at 0, but 3 was chosen once"
        );
        s.deactivate(3);
        s.remove(4, &t);
        assert_eq!(s.sorted(), [2, 1]);
        assert!(!s.is_active(3) && s.contains(3));
        s.remove(2, &t);
        assert_eq!(s.sorted(), [1]);
    }

    #[test]
    fn ties_follow_paths_through_renumbering() {
        let mut names = Names::default();
        let t = totals(&mut names, "cpus:10");
        let mut s = Sorter::new(false);
        // Each new path sorts between "a" and the previous one, halving
        // the same gap every time until the ranks are spread again.
        let mut paths = vec!["a".to_string(), "b".to_string()];
        for i in 0..150 {
            paths.push(format!("{}b", "a".repeat(i + 1)));
        }
        for (c, p) in paths.iter().enumerate() {
            s.add(c as u32, p, &t);
            s.activate(c as u32);
        }
        s.refresh(&t);
        let mut want: Vec<(String, u32)> = paths
            .iter()
            .enumerate()
            .map(|(c, p)| (p.clone(), c as u32))
            .collect();
        want.sort();
        let want: Vec<u32> = want.into_iter().map(|(_, c)| c).collect();
        assert_eq!(s.sorted(), want);
        // Shares still come first.
        s.allocated(0, &q(&mut names, "cpus:1"), &t);
        assert_eq!(s.sorted().last(), Some(&0));
    }

    #[test]
    fn weights_divide_shares() {
        let mut names = Names::default();
        let t = totals(&mut names, "cpus:10");
        let mut s = Sorter::new(true);
        s.add(1, "a", &t);
        s.add(2, "b", &t);
        s.activate(1);
        s.activate(2);
        s.allocated(1, &q(&mut names, "cpus:4"), &t);
        s.allocated(2, &q(&mut names, "cpus:3"), &t);
        s.refresh(&t);
        assert_eq!(s.sorted(), [2, 1]);
        s.set_weight("a", 2.0, &t);
        assert_eq!(s.sorted(), [1, 2], "0.4 / 2 < 0.3");
        assert_eq!(s.share(1, &t), Some(0.2));
    }

    #[test]
    fn hierarchy_sums_children_and_uses_virtual_leaves() {
        let mut names = Names::default();
        let t = totals(&mut names, "cpus:100");
        let mut s = Sorter::new(true);
        s.add(1, "a/x", &t);
        s.add(2, "a/y", &t);
        s.add(3, "b", &t);
        for c in 1..=3 {
            s.activate(c);
        }
        s.refresh(&t);
        s.allocated(1, &q(&mut names, "cpus:10"), &t);
        s.allocated(3, &q(&mut names, "cpus:5"), &t);
        // Subtree `a` holds 10 > `b`'s 5, so `b` comes first even though
        // `a/y` holds nothing.
        assert_eq!(s.sorted(), [3, 2, 1]);
        // A client at an internal path sits in a virtual leaf beside its
        // children, and its allocation counts for the parent.
        s.add(4, "b/z", &t);
        s.activate(4);
        assert_eq!(s.sorted(), [4, 3, 2, 1], "`b/z` holds nothing, `b/.` 5");
        s.allocated(3, &q(&mut names, "cpus:20"), &t);
        assert_eq!(s.sorted(), [2, 1, 4, 3]);
        s.add(5, "a", &t);
        s.activate(5);
        assert_eq!(s.sorted(), [5, 2, 1, 4, 3]);
        // Removing the children of `b` leaves `b` a virtual leaf.
        s.remove(4, &t);
        assert_eq!(s.sorted(), [5, 2, 1, 3]);
        s.remove(1, &t);
        s.remove(2, &t);
        s.remove(5, &t);
        assert_eq!(s.sorted(), [3]);
        s.add(6, "a/x/deep", &t);
        s.activate(6);
        assert_eq!(s.sorted(), [6, 3]);
    }

    #[test]
    fn cursor_visits_each_client_once_despite_rekeys() {
        let mut names = Names::default();
        let t = totals(&mut names, "cpus:100");
        let mut s = Sorter::new(true);
        for (c, p) in [(1, "a/x"), (2, "a/y"), (3, "b"), (4, "c")] {
            s.add(c, p, &t);
            s.activate(c);
        }
        s.refresh(&t);
        let mut c = s.cursor(1);
        let mut seen = Vec::new();
        let one = q(&mut names, "cpus:1");
        while let Some(client) = s.next(&mut c) {
            seen.push(client);
            // Every client chosen takes an allocation and moves last.
            s.allocated(client, &one, &t);
        }
        assert_eq!(seen, [1, 2, 3, 4]);
        // The next walk sees the new order: `a` (2 cpus) after `b` and `c`.
        assert_eq!(walk(&mut s, 2), [3, 4, 1, 2]);
    }

    #[test]
    fn refresh_after_total_change() {
        let mut names = Names::default();
        let mut t = totals(&mut names, "cpus:10;mem:100");
        let mut s = Sorter::new(false);
        s.add(1, "a", &t);
        s.add(2, "b", &t);
        s.activate(1);
        s.activate(2);
        s.refresh(&t);
        s.allocated(1, &q(&mut names, "cpus:2"), &t);
        s.allocated(2, &q(&mut names, "mem:30"), &t);
        assert_eq!(s.sorted(), [1, 2]);
        // Ten times the memory: `b`'s share drops below `a`'s.
        t.total = q(&mut names, "cpus:10;mem:1000");
        t.generation += 1;
        s.refresh(&t);
        assert_eq!(s.sorted(), [2, 1]);
    }

    /// The sorter's tree kept naively and sorted from scratch on every
    /// query: the oracle for the property test.
    #[derive(Default)]
    struct Model {
        /// Client id to (path, active, cpus held, allocation count).
        clients: HashMap<u32, (String, bool, i64, u64)>,
        /// Internal nodes by path, with their allocation counts.
        internal: HashMap<String, u64>,
        weights: HashMap<String, f64>,
    }

    const PATHS: [&str; 7] = ["a", "b", "a/x", "a/y", "a/x/z", "b/w", "c"];

    fn under(path: &str, prefix: &str) -> bool {
        path == prefix || path.starts_with(&format!("{prefix}/"))
    }

    fn parent_of(path: &str) -> &str {
        path.rfind('/').map_or("", |i| &path[..i])
    }

    impl Model {
        fn add(&mut self, id: u32, path: &str) {
            let parts: Vec<&str> = path.split('/').collect();
            for i in 1..parts.len() {
                let prefix = parts[..i].join("/");
                if !self.internal.contains_key(&prefix) {
                    // A client there becomes a virtual leaf; the new
                    // internal node keeps its count.
                    let count = self
                        .clients
                        .values()
                        .find(|c| c.0 == prefix)
                        .map_or(0, |c| c.3);
                    self.internal.insert(prefix, count);
                }
            }
            self.clients.insert(id, (path.to_string(), false, 0, 0));
        }

        fn remove(&mut self, id: u32) {
            if self.clients.remove(&id).is_none() {
                return;
            }
            loop {
                let empty: Vec<String> = self
                    .internal
                    .keys()
                    .filter(|p| {
                        !self
                            .clients
                            .values()
                            .any(|c| c.0 == **p || parent_of(&c.0) == p.as_str())
                            && !self.internal.keys().any(|q| parent_of(q) == p.as_str())
                    })
                    .cloned()
                    .collect();
                if empty.is_empty() {
                    break;
                }
                for p in empty {
                    self.internal.remove(&p);
                }
            }
        }

        fn allocate(&mut self, id: u32, cpus: i64) {
            let Some(c) = self.clients.get_mut(&id) else {
                return;
            };
            c.2 += cpus;
            c.3 += 1;
            let path = c.0.clone();
            for (p, count) in self.internal.iter_mut() {
                if under(&path, p) {
                    *count += 1;
                }
            }
        }

        fn key(&self, held: i64, weight: f64, count: u64, total: i64) -> (u64, u64) {
            // Held in cpus, the total in fixed point, as the sorter keeps them.
            let share = if held > 0 && total > 0 {
                (held * 1000) as f64 / total as f64
            } else {
                0.0
            };
            ((share / weight).to_bits(), count)
        }

        /// Active clients in DRF order under internal node `prefix` ("" is
        /// the root).
        fn order(&self, prefix: &str, total: i64, out: &mut Vec<u32>) {
            let weight = |p: &str| self.weights.get(p).copied().unwrap_or(1.0);
            let mut children: Vec<(u64, u64, String, Option<u32>)> = Vec::new();
            for (p, &count) in &self.internal {
                if parent_of(p) == prefix {
                    let held = self
                        .clients
                        .values()
                        .filter(|c| under(&c.0, p))
                        .map(|c| c.2)
                        .sum();
                    let (share, count) = self.key(held, weight(p), count, total);
                    children.push((share, count, p.clone(), None));
                }
            }
            for (&id, (p, active, held, count)) in &self.clients {
                if !active {
                    continue;
                }
                if self.internal.contains_key(p) {
                    if p == prefix {
                        let (share, count) = self.key(*held, 1.0, *count, total);
                        children.push((share, count, format!("{p}/."), Some(id)));
                    }
                } else if parent_of(p) == prefix {
                    let (share, count) = self.key(*held, weight(p), *count, total);
                    children.push((share, count, p.clone(), Some(id)));
                }
            }
            children.sort();
            for (_, _, path, client) in children {
                match client {
                    Some(id) => out.push(id),
                    None => self.order(&path, total, out),
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum SorterOp {
        Add(u32),
        Remove(u32),
        Activate(u32),
        Deactivate(u32),
        Allocate(u32, i64),
        Unallocate(u32, i64),
        Weight(usize, u8),
        Total(i64),
        Walk,
    }

    fn sorter_op() -> impl proptest::strategy::Strategy<Value = SorterOp> {
        use proptest::prelude::*;
        let c = 0u32..PATHS.len() as u32;
        prop_oneof![
            c.clone().prop_map(SorterOp::Add),
            c.clone().prop_map(SorterOp::Add),
            c.clone().prop_map(SorterOp::Remove),
            c.clone().prop_map(SorterOp::Activate),
            c.clone().prop_map(SorterOp::Activate),
            c.clone().prop_map(SorterOp::Deactivate),
            (c.clone(), 1i64..4).prop_map(|(c, n)| SorterOp::Allocate(c, n)),
            (c.clone(), 1i64..4).prop_map(|(c, n)| SorterOp::Allocate(c, n)),
            (c, 1i64..4).prop_map(|(c, n)| SorterOp::Unallocate(c, n)),
            (0..PATHS.len(), 1u8..4).prop_map(|(p, w)| SorterOp::Weight(p, w)),
            (50i64..200).prop_map(SorterOp::Total),
            Just(SorterOp::Walk),
        ]
    }

    proptest::proptest! {
        #[test]
        fn matches_a_tree_sorted_from_scratch(
            ops in proptest::collection::vec(sorter_op(), 1..80)
        ) {
            let mut names = Names::default();
            let mut t = totals(&mut names, "cpus:100");
            let mut s = Sorter::new(true);
            let mut m = Model::default();
            let mut epoch = 0;
            for op in ops {
                match op {
                    SorterOp::Add(c) => {
                        if !m.clients.contains_key(&c) {
                            s.add(c, PATHS[c as usize], &t);
                            m.add(c, PATHS[c as usize]);
                        }
                    }
                    SorterOp::Remove(c) => {
                        s.remove(c, &t);
                        m.remove(c);
                    }
                    SorterOp::Activate(c) | SorterOp::Deactivate(c) => {
                        let on = matches!(op, SorterOp::Activate(_));
                        if let Some(x) = m.clients.get_mut(&c) {
                            x.1 = on;
                            if on {
                                s.activate(c)
                            } else {
                                s.deactivate(c)
                            }
                        }
                    }
                    SorterOp::Allocate(c, n) => {
                        if m.clients.contains_key(&c) {
                            s.allocated(c, &q(&mut names, &format!("cpus:{n}")), &t);
                            m.allocate(c, n);
                        }
                    }
                    SorterOp::Unallocate(c, n) => {
                        if let Some(x) = m.clients.get_mut(&c) {
                            let n = n.min(x.2);
                            if n > 0 {
                                x.2 -= n;
                                s.unallocated(c, &q(&mut names, &format!("cpus:{n}")), &t);
                            }
                        }
                    }
                    SorterOp::Weight(p, w) => {
                        s.set_weight(PATHS[p], w as f64, &t);
                        m.weights.insert(PATHS[p].to_string(), w as f64);
                    }
                    SorterOp::Total(n) => {
                        t.total = q(&mut names, &format!("cpus:{n}"));
                        t.generation += 1;
                    }
                    SorterOp::Walk => {
                        s.refresh(&t);
                        let before = s.sorted();
                        epoch += 1;
                        let mut cursor = s.cursor(epoch);
                        let mut seen = Vec::new();
                        while let Some(c) = s.next(&mut cursor) {
                            seen.push(c);
                            s.allocated(c, &q(&mut names, "cpus:1"), &t);
                            m.allocate(c, 1);
                        }
                        proptest::prop_assert_eq!(seen, before, "a walk keeps the order it started with");
                    }
                }
                s.refresh(&t);
                let mut want = Vec::new();
                m.order("", t.total.get(0), &mut want);
                proptest::prop_assert_eq!(s.sorted(), want, "after {:?}", op);
            }
        }
    }
}
