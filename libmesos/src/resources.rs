//! The Mesos resources algebra (Apache Mesos 1.11, `src/common/resources.cpp`).
//!
//! A [`Resource`] is a named quantity (a [`Value`]: scalar, ranges or set)
//! with a reservation role (`"*"` means unreserved), an optional dynamic
//! [`Reservation`] and an optional allocation role. [`Resources`] is a
//! collection of them with Mesos semantics:
//!
//! - adding merges resources with the same name, value type, role,
//!   reservation and allocation role: scalars are summed, ranges and sets
//!   are unioned;
//! - subtracting is saturating: a resource that becomes empty or negative is
//!   removed;
//! - scalars use Mesos's fixed-point arithmetic with a granularity of 0.001,
//!   so `0.1 + 0.2 == 0.3`;
//! - ranges are inclusive and are kept sorted and coalesced.
//!
//! The `--resources` text form (`cpus:4;mem:4096;ports:[31000-32000];
//! zones:{a,b};cpus(prod):2`) is parsed by [`Resources::parse`] and printed
//! by the [`std::fmt::Display`] impls (`cpus:4; mem:4096; ports:[31000-32000]`).
//! Nothing in this module does I/O or panics on any input.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::str::FromStr;

/// The role of unreserved resources.
pub const UNRESERVED_ROLE: &str = "*";

/// Scalars are fixed point with this many units per 1.0 (0.001 granularity).
const FIXED_SCALE: f64 = 1000.0;

/// The largest scalar magnitude representable in fixed point.
const MAX_SCALAR: f64 = (i64::MAX / 1000) as f64;

/// Converts a floating scalar to Mesos's fixed-point representation.
fn to_fixed(v: f64) -> i64 {
    // `as` saturates and maps NaN to 0, so this never panics.
    (v * FIXED_SCALE).round() as i64
}

/// Converts a fixed-point scalar back to floating point.
fn from_fixed(f: i64) -> f64 {
    f as f64 / FIXED_SCALE
}

/// Prints a fixed-point scalar with no trailing zeros (`4`, `0.5`, `1.25`).
fn fmt_fixed(f: i64) -> String {
    let mut s = String::new();
    if f < 0 {
        s.push('-');
    }
    let a = f.unsigned_abs();
    s.push_str(&(a / 1000).to_string());
    let frac = a % 1000;
    if frac != 0 {
        s.push('.');
        s.push_str(format!("{frac:03}").trim_end_matches('0'));
    }
    s
}

/// Errors from parsing or validating resources. Each carries the offending
/// token or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourcesError {
    /// The text held no resource at all.
    #[error("empty resources string")]
    Empty,
    /// A `name:value` token with no `:`, or more than one.
    #[error("missing or extra ':' in resource token '{0}'")]
    BadToken(String),
    /// A resource name that is empty or holds a reserved character.
    #[error("invalid resource name '{0}'")]
    InvalidName(String),
    /// A role that is empty, `.`, `..`, starts with `-`, or holds a reserved
    /// character or whitespace.
    #[error("invalid role '{0}'")]
    InvalidRole(String),
    /// A principal that is empty or holds a reserved character.
    #[error("invalid principal '{0}'")]
    InvalidPrincipal(String),
    /// A malformed `(...)` qualifier after a resource name.
    #[error("invalid qualifier in '{0}'")]
    InvalidQualifier(String),
    /// A token with nothing after the `:`.
    #[error("missing value in resource token '{0}'")]
    MissingValue(String),
    /// A scalar that is not a finite number.
    #[error("invalid scalar value '{0}'")]
    InvalidScalar(String),
    /// A scalar below zero.
    #[error("negative scalar value '{0}'")]
    NegativeScalar(String),
    /// A scalar too large for fixed point.
    #[error("scalar value out of range '{0}'")]
    ScalarOutOfRange(String),
    /// A range that is not `begin-end` with `begin <= end`, or ranges not in
    /// `[...]`.
    #[error("invalid range '{0}'")]
    InvalidRange(String),
    /// A set not in `{...}` or with an invalid item.
    #[error("invalid set '{0}'")]
    InvalidSet(String),
    /// A reservation inconsistent with the resource's role.
    #[error("reservation inconsistent with role in resource '{0}'")]
    ReservationMismatch(String),
}

/// A resource value: a scalar, inclusive ranges or a set of strings.
#[derive(Debug, Clone)]
pub enum Value {
    /// A non-negative quantity, compared and combined in fixed point (0.001).
    Scalar(f64),
    /// Inclusive `(begin, end)` ranges, kept sorted and coalesced by
    /// [`Resources`].
    Ranges(Vec<(u64, u64)>),
    /// A set of strings.
    Set(BTreeSet<String>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => to_fixed(*a) == to_fixed(*b),
            (Value::Ranges(a), Value::Ranges(b)) => coalesce_ranges(a) == coalesce_ranges(b),
            (Value::Set(a), Value::Set(b)) => a == b,
            _ => false,
        }
    }
}

/// Sorts and coalesces inclusive ranges (overlapping or adjacent ranges are
/// merged); pairs with `begin > end` are dropped.
pub fn coalesce_ranges(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = ranges.iter().copied().filter(|(b, e)| b <= e).collect();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (b, e) in v {
        match out.last_mut() {
            Some(last) if b <= last.1.saturating_add(1) => last.1 = last.1.max(e),
            _ => out.push((b, e)),
        }
    }
    out
}

/// `left \ right` for coalesced range lists.
fn subtract_ranges(left: &[(u64, u64)], right: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(lb, le) in left {
        let mut cur = Some((lb, le));
        for &(rb, re) in right {
            let Some((cb, ce)) = cur else { break };
            if re < cb || rb > ce {
                continue;
            }
            if rb > cb {
                out.push((cb, rb - 1));
            }
            cur = if re < ce { Some((re + 1, ce)) } else { None };
        }
        if let Some(c) = cur {
            out.push(c);
        }
    }
    out
}

/// Whether every range of `right` lies in `left` (both coalesced).
fn ranges_contain(left: &[(u64, u64)], right: &[(u64, u64)]) -> bool {
    right
        .iter()
        .all(|&(rb, re)| left.iter().any(|&(lb, le)| lb <= rb && re <= le))
}

impl Value {
    /// The value in canonical form: scalars rounded to 0.001, ranges sorted
    /// and coalesced.
    pub fn normalized(&self) -> Value {
        match self {
            Value::Scalar(s) => Value::Scalar(from_fixed(to_fixed(*s))),
            Value::Ranges(r) => Value::Ranges(coalesce_ranges(r)),
            Value::Set(s) => Value::Set(s.clone()),
        }
    }

    /// Puts the value in canonical form in place (see
    /// [`Value::normalized`]); already coalesced ranges are not copied.
    fn normalize(&mut self) {
        match self {
            Value::Scalar(s) => *s = from_fixed(to_fixed(*s)),
            Value::Ranges(r) => {
                let coalesced = r.iter().all(|(b, e)| b <= e)
                    && r.windows(2).all(|w| w[0].1.saturating_add(1) < w[1].0);
                if !coalesced {
                    *r = coalesce_ranges(r);
                }
            }
            Value::Set(_) => {}
        }
    }

    /// Whether the value is zero, has no ranges or is an empty set.
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(s) => to_fixed(*s) == 0,
            Value::Ranges(r) => coalesce_ranges(r).is_empty(),
            Value::Set(s) => s.is_empty(),
        }
    }

    /// Whether `other` is of the same type and no larger than `self`
    /// (scalar `<=`, range or set inclusion).
    pub fn contains(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => to_fixed(*a) >= to_fixed(*b),
            (Value::Ranges(a), Value::Ranges(b)) => {
                ranges_contain(&coalesce_ranges(a), &coalesce_ranges(b))
            }
            (Value::Set(a), Value::Set(b)) => b.is_subset(a),
            _ => false,
        }
    }

    /// Whether both values are of the same type.
    pub fn same_type(&self, other: &Value) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// Adds `other` (same type) into `self`; other types are ignored.
    fn add_assign_value(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => {
                *a = from_fixed(to_fixed(*a).saturating_add(to_fixed(*b)));
            }
            (Value::Ranges(a), Value::Ranges(b)) => {
                a.extend_from_slice(b);
                *a = coalesce_ranges(a);
            }
            (Value::Set(a), Value::Set(b)) => a.extend(b.iter().cloned()),
            _ => {}
        }
    }

    /// Subtracts `other` (same type) from `self`; other types are ignored.
    /// Scalars may go negative here; callers drop such results.
    fn sub_assign_value(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => {
                *a = from_fixed(to_fixed(*a).saturating_sub(to_fixed(*b)));
            }
            (Value::Ranges(a), Value::Ranges(b)) => {
                *a = subtract_ranges(&coalesce_ranges(a), &coalesce_ranges(b));
            }
            (Value::Set(a), Value::Set(b)) => a.retain(|x| !b.contains(x)),
            _ => {}
        }
    }

    fn is_negative(&self) -> bool {
        matches!(self, Value::Scalar(s) if to_fixed(*s) < 0)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => f.write_str(&fmt_fixed(to_fixed(*s))),
            Value::Ranges(r) => {
                let parts: Vec<String> = coalesce_ranges(r)
                    .iter()
                    .map(|(b, e)| format!("{b}-{e}"))
                    .collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Value::Set(s) => {
                let parts: Vec<&str> = s.iter().map(String::as_str).collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

/// A dynamic reservation: the role reserved for and who reserved it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reservation {
    /// The role the resource is reserved for (equals [`Resource::role`]).
    pub role: String,
    /// The principal that made the reservation, if known.
    pub principal: Option<String>,
}

/// One named resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The resource name, e.g. `cpus`, `mem`, `ports`.
    pub name: String,
    /// The amount.
    pub value: Value,
    /// The reservation role; `"*"` means unreserved. A role other than `"*"`
    /// with no [`Resource::reservation`] is a static reservation.
    pub role: String,
    /// The dynamic reservation, if any; its role must equal `role`.
    pub reservation: Option<Reservation>,
    /// The role the resource is allocated to, if allocated.
    pub allocation_role: Option<String>,
}

const RESERVED_CHARS: &[char] = &[':', ';', '(', ')', '[', ']', '{', '}', ','];

fn validate_name(name: &str) -> Result<(), ResourcesError> {
    if name.is_empty()
        || name.trim() != name
        || name.contains(RESERVED_CHARS)
        || name.contains(char::is_control)
    {
        return Err(ResourcesError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Checks a role name as Mesos's `roles::validate` does, plus `"*"`.
fn validate_role(role: &str) -> Result<(), ResourcesError> {
    if role == UNRESERVED_ROLE {
        return Ok(());
    }
    let bad = role.is_empty()
        || role.contains(RESERVED_CHARS)
        || role.contains(char::is_whitespace)
        || role.contains(char::is_control)
        || role.contains('*')
        || role.starts_with('/')
        || role.ends_with('/')
        || role
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with('-'));
    if bad {
        return Err(ResourcesError::InvalidRole(role.to_string()));
    }
    Ok(())
}

fn validate_principal(p: &str) -> Result<(), ResourcesError> {
    if p.is_empty() || p.trim() != p || p.contains(['(', ')', ';']) || p.contains(char::is_control)
    {
        return Err(ResourcesError::InvalidPrincipal(p.to_string()));
    }
    Ok(())
}

fn validate_set_item(item: &str) -> bool {
    !item.is_empty()
        && item.trim() == item
        && !item.contains(RESERVED_CHARS)
        && !item.contains(char::is_control)
}

/// Whether `role` is a strict descendant of `ancestor` (`a/b` of `a`).
fn is_strict_subrole(role: &str, ancestor: &str) -> bool {
    role.len() > ancestor.len() + 1
        && role.starts_with(ancestor)
        && role.as_bytes().get(ancestor.len()) == Some(&b'/')
}

impl Resource {
    fn new(name: impl Into<String>, value: Value) -> Resource {
        Resource {
            name: name.into(),
            value,
            role: UNRESERVED_ROLE.to_string(),
            reservation: None,
            allocation_role: None,
        }
    }

    /// An unreserved scalar resource.
    pub fn scalar(name: impl Into<String>, value: f64) -> Resource {
        Resource::new(name, Value::Scalar(value))
    }

    /// An unreserved ranges resource (inclusive bounds).
    pub fn ranges(
        name: impl Into<String>,
        ranges: impl IntoIterator<Item = (u64, u64)>,
    ) -> Resource {
        Resource::new(name, Value::Ranges(ranges.into_iter().collect()))
    }

    /// An unreserved set resource.
    pub fn set<S: Into<String>>(
        name: impl Into<String>,
        items: impl IntoIterator<Item = S>,
    ) -> Resource {
        Resource::new(
            name,
            Value::Set(items.into_iter().map(Into::into).collect()),
        )
    }

    /// This resource statically reserved for `role` (`"*"` unreserves it).
    pub fn with_role(mut self, role: impl Into<String>) -> Resource {
        self.role = role.into();
        self.reservation = None;
        self
    }

    /// This resource dynamically reserved for `role` by `principal`.
    pub fn with_reservation(
        mut self,
        role: impl Into<String>,
        principal: Option<String>,
    ) -> Resource {
        let role = role.into();
        self.role = role.clone();
        self.reservation = Some(Reservation { role, principal });
        self
    }

    /// This resource allocated to `role`.
    pub fn with_allocation(mut self, role: impl Into<String>) -> Resource {
        self.allocation_role = Some(role.into());
        self
    }

    /// Checks the name, roles, principal and value (no negative, NaN or
    /// out-of-range scalars, no `begin > end` ranges, valid set items).
    pub fn validate(&self) -> Result<(), ResourcesError> {
        validate_name(&self.name)?;
        validate_role(&self.role)?;
        if let Some(r) = &self.reservation {
            if r.role != self.role || r.role == UNRESERVED_ROLE {
                return Err(ResourcesError::ReservationMismatch(self.to_string()));
            }
            if let Some(p) = &r.principal {
                validate_principal(p)?;
            }
        }
        if let Some(a) = &self.allocation_role {
            if a == UNRESERVED_ROLE {
                return Err(ResourcesError::InvalidRole(a.clone()));
            }
            validate_role(a)?;
        }
        match &self.value {
            // The common valid case without formatting the error token.
            Value::Scalar(s) if s.is_finite() && to_fixed(*s) >= 0 && *s <= MAX_SCALAR => Ok(()),
            Value::Scalar(s) => check_scalar(*s, &fmt_fixed(to_fixed(*s))).map(|_| ()),
            Value::Ranges(r) => match r.iter().find(|(b, e)| b > e) {
                Some((b, e)) => Err(ResourcesError::InvalidRange(format!("{b}-{e}"))),
                None => Ok(()),
            },
            Value::Set(s) => match s.iter().find(|i| !validate_set_item(i)) {
                Some(i) => Err(ResourcesError::InvalidSet(i.clone())),
                None => Ok(()),
            },
        }
    }

    /// Whether the value is empty (zero scalar, no ranges, empty set).
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Whether the resource is reserved (statically or dynamically).
    pub fn is_reserved(&self) -> bool {
        self.role != UNRESERVED_ROLE
    }

    /// Whether the resource is unreserved (`role == "*"`).
    pub fn is_unreserved(&self) -> bool {
        !self.is_reserved()
    }

    /// Whether the resource is dynamically reserved.
    pub fn is_dynamically_reserved(&self) -> bool {
        self.reservation.is_some()
    }

    /// Whether the resource can be allocated to `role`: unreserved, reserved
    /// for `role`, or reserved for an ancestor of `role`.
    pub fn is_allocatable_to(&self, role: &str) -> bool {
        self.is_unreserved() || self.role == role || is_strict_subrole(role, &self.role)
    }

    /// Whether `other` may be merged with (or subtracted from) `self`: same
    /// name, value type, role, reservation and allocation role.
    pub fn same_key(&self, other: &Resource) -> bool {
        self.name == other.name
            && self.value.same_type(&other.value)
            && self.role == other.role
            && self.reservation == other.reservation
            && self.allocation_role == other.allocation_role
    }

    /// Whether `other` has the same key and no larger value.
    pub fn contains(&self, other: &Resource) -> bool {
        self.same_key(other) && self.value.contains(&other.value)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.is_reserved() {
            match self.reservation.as_ref().and_then(|r| r.principal.as_ref()) {
                Some(p) => write!(f, "({}, {})", self.role, p)?,
                None => write!(f, "({})", self.role)?,
            }
        }
        if let Some(a) = &self.allocation_role {
            write!(f, "(allocated: {a})")?;
        }
        write!(f, ":{}", self.value)
    }
}

impl FromStr for Resource {
    type Err = ResourcesError;

    /// Parses one `name(role):value` token (unreserved if no role).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_token(s.trim(), UNRESERVED_ROLE)
    }
}

/// Checks a scalar and returns it in fixed point.
fn check_scalar(v: f64, token: &str) -> Result<i64, ResourcesError> {
    if !v.is_finite() {
        return Err(ResourcesError::InvalidScalar(token.to_string()));
    }
    if v < 0.0 && to_fixed(v) != 0 {
        return Err(ResourcesError::NegativeScalar(token.to_string()));
    }
    if v > MAX_SCALAR {
        return Err(ResourcesError::ScalarOutOfRange(token.to_string()));
    }
    Ok(to_fixed(v).max(0))
}

fn parse_value(text: &str, token: &str) -> Result<Value, ResourcesError> {
    if text.is_empty() {
        return Err(ResourcesError::MissingValue(token.to_string()));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| ResourcesError::InvalidRange(text.to_string()))?;
        let mut ranges = Vec::new();
        for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || ResourcesError::InvalidRange(item.to_string());
            let (b, e) = item.split_once('-').ok_or_else(bad)?;
            let b: u64 = b.trim().parse().map_err(|_| bad())?;
            let e: u64 = e.trim().parse().map_err(|_| bad())?;
            if b > e {
                return Err(bad());
            }
            ranges.push((b, e));
        }
        return Ok(Value::Ranges(coalesce_ranges(&ranges)));
    }
    if let Some(rest) = text.strip_prefix('{') {
        let inner = rest
            .strip_suffix('}')
            .ok_or_else(|| ResourcesError::InvalidSet(text.to_string()))?;
        let mut set = BTreeSet::new();
        for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if !validate_set_item(item) {
                return Err(ResourcesError::InvalidSet(item.to_string()));
            }
            set.insert(item.to_string());
        }
        return Ok(Value::Set(set));
    }
    if text.contains(['[', ']', '{', '}']) {
        return Err(ResourcesError::InvalidScalar(text.to_string()));
    }
    let v: f64 = text
        .parse()
        .map_err(|_| ResourcesError::InvalidScalar(text.to_string()))?;
    Ok(Value::Scalar(from_fixed(check_scalar(v, text)?)))
}

/// Parses `name`, `name(role)`, `name(role, principal)`, optionally followed
/// by `(allocated: role)`.
fn parse_head(head: &str, default_role: &str, token: &str) -> Result<Resource, ResourcesError> {
    let (name, mut rest) = match head.find('(') {
        Some(i) => (head[..i].trim(), &head[i..]),
        None => (head.trim(), ""),
    };
    validate_name(name)?;
    let mut res = Resource::new(name, Value::Scalar(0.0)).with_role(default_role);
    let mut saw_role = false;
    let mut saw_alloc = false;
    let bad = || ResourcesError::InvalidQualifier(token.to_string());
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let inner_rest = rest.strip_prefix('(').ok_or_else(bad)?;
        let close = inner_rest.find(')').ok_or_else(bad)?;
        let group = inner_rest[..close].trim();
        rest = &inner_rest[close + 1..];
        if group.contains('(') {
            return Err(bad());
        }
        if let Some(a) = group.strip_prefix("allocated:") {
            if saw_alloc {
                return Err(bad());
            }
            saw_alloc = true;
            let a = a.trim();
            if a == UNRESERVED_ROLE {
                return Err(ResourcesError::InvalidRole(a.to_string()));
            }
            validate_role(a)?;
            res.allocation_role = Some(a.to_string());
        } else {
            if saw_role || saw_alloc {
                return Err(bad());
            }
            saw_role = true;
            match group.split_once(',') {
                Some((role, principal)) => {
                    let (role, principal) = (role.trim(), principal.trim());
                    validate_role(role)?;
                    if role == UNRESERVED_ROLE {
                        return Err(ResourcesError::ReservationMismatch(token.to_string()));
                    }
                    validate_principal(principal)?;
                    res = res.with_reservation(role, Some(principal.to_string()));
                }
                None => {
                    validate_role(group)?;
                    res = res.with_role(group);
                }
            }
        }
    }
    Ok(res)
}

fn parse_token(token: &str, default_role: &str) -> Result<Resource, ResourcesError> {
    let mut depth = 0i32;
    let mut colons = Vec::new();
    for (i, c) in token.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => colons.push(i),
            _ => {}
        }
        if depth < 0 {
            return Err(ResourcesError::InvalidQualifier(token.to_string()));
        }
    }
    if depth != 0 {
        return Err(ResourcesError::InvalidQualifier(token.to_string()));
    }
    let [colon] = colons[..] else {
        return Err(ResourcesError::BadToken(token.to_string()));
    };
    let mut res = parse_head(&token[..colon], default_role, token)?;
    res.value = parse_value(token[colon + 1..].trim(), token)?;
    Ok(res)
}

/// A collection of resources with Mesos semantics.
///
/// Invariant: every held resource is valid, non-empty, normalized, and no two
/// share a key ([`Resource::same_key`]). Equality ignores order.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    items: Vec<Resource>,
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        self.items.len() == other.items.len()
            && self.items.iter().all(|r| {
                other
                    .items
                    .iter()
                    .any(|o| o.same_key(r) && o.value == r.value)
            })
    }
}

impl Resources {
    /// An empty collection.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Parses Mesos's `--resources` text form with unreserved (`"*"`) as
    /// the default role, e.g. `cpus:4;mem:4096;ports:[31000-32000];
    /// zones:{a,b};cpus(prod):2`. Zero-valued resources are dropped; text
    /// with no token at all is [`ResourcesError::Empty`].
    pub fn parse(text: &str) -> Result<Resources, ResourcesError> {
        Resources::parse_with_role(text, UNRESERVED_ROLE)
    }

    /// Like [`Resources::parse`], with `default_role` for tokens that name
    /// no role (Mesos's `--default_role`).
    pub fn parse_with_role(text: &str, default_role: &str) -> Result<Resources, ResourcesError> {
        validate_role(default_role)?;
        let mut out = Resources::new();
        let mut any = false;
        for token in text.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            any = true;
            let res = parse_token(token, default_role)?;
            res.validate()?;
            out.add_resource(&res);
        }
        if !any {
            return Err(ResourcesError::Empty);
        }
        Ok(out)
    }

    /// Adds one resource, merging it with a resource of the same key.
    /// Invalid and empty resources are ignored, as in Mesos.
    pub fn add_resource(&mut self, resource: &Resource) {
        if resource.validate().is_err() || resource.is_empty() {
            return;
        }
        match self.items.iter_mut().find(|r| r.same_key(resource)) {
            Some(r) => r.value.add_assign_value(&resource.value),
            None => {
                let mut r = resource.clone();
                r.value.normalize();
                self.items.push(r);
            }
        }
    }

    /// Adds every resource of `other`.
    pub fn add_all(&mut self, other: &Resources) {
        for r in &other.items {
            self.add_resource(r);
        }
    }

    /// Subtracts one resource from the resource of the same key, removing
    /// it if it becomes empty or negative. Invalid and empty resources are
    /// ignored.
    pub fn subtract_resource(&mut self, resource: &Resource) {
        if resource.validate().is_err() || resource.is_empty() {
            return;
        }
        if let Some(i) = self.items.iter().position(|r| r.same_key(resource)) {
            let r = &mut self.items[i];
            r.value.sub_assign_value(&resource.value);
            if r.value.is_empty() || r.value.is_negative() {
                self.items.remove(i);
            }
        }
    }

    /// Subtracts every resource of `other`.
    pub fn subtract_all(&mut self, other: &Resources) {
        for r in &other.items {
            self.subtract_resource(r);
        }
    }

    /// Whether `self` holds at least `other` (per key).
    pub fn contains(&self, other: &Resources) -> bool {
        other.items.iter().all(|r| self.contains_resource(r))
    }

    /// Whether `self` holds at least `resource`; empty resources are always
    /// contained, invalid ones never.
    pub fn contains_resource(&self, resource: &Resource) -> bool {
        if resource.validate().is_err() {
            return false;
        }
        resource.is_empty() || self.items.iter().any(|r| r.contains(resource))
    }

    /// Whether there are no resources.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The number of distinct (merged) resources.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Iterates over the resources in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, Resource> {
        self.items.iter()
    }

    /// The sum of all scalar resources named `name` (over every role), or
    /// `None` if there is none.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let mut sum = 0i64;
        for r in self.items.iter().filter(|r| r.name == name) {
            if let Value::Scalar(s) = r.value {
                found = true;
                sum = sum.saturating_add(to_fixed(s));
            }
        }
        found.then(|| from_fixed(sum))
    }

    /// The union of all ranges resources named `name`, or `None`.
    pub fn ranges(&self, name: &str) -> Option<Vec<(u64, u64)>> {
        let mut found = false;
        let mut all = Vec::new();
        for r in self.items.iter().filter(|r| r.name == name) {
            if let Value::Ranges(v) = &r.value {
                found = true;
                all.extend_from_slice(v);
            }
        }
        found.then(|| coalesce_ranges(&all))
    }

    /// The union of all set resources named `name`, or `None`.
    pub fn set(&self, name: &str) -> Option<BTreeSet<String>> {
        let mut out: Option<BTreeSet<String>> = None;
        for r in self.items.iter().filter(|r| r.name == name) {
            if let Value::Set(s) = &r.value {
                out.get_or_insert_with(BTreeSet::new)
                    .extend(s.iter().cloned());
            }
        }
        out
    }

    /// Total `cpus`.
    pub fn cpus(&self) -> Option<f64> {
        self.scalar("cpus")
    }

    /// Total `mem`, in MB.
    pub fn mem(&self) -> Option<f64> {
        self.scalar("mem")
    }

    /// Total `disk`, in MB.
    pub fn disk(&self) -> Option<f64> {
        self.scalar("disk")
    }

    /// Total `gpus`.
    pub fn gpus(&self) -> Option<f64> {
        self.scalar("gpus")
    }

    /// All `ports` ranges.
    pub fn ports(&self) -> Option<Vec<(u64, u64)>> {
        self.ranges("ports")
    }

    /// The resources for which `pred` holds.
    pub fn filter(&self, pred: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            items: self.items.iter().filter(|r| pred(r)).cloned().collect(),
        }
    }

    /// The resources whose reservation role is exactly `role` (`"*"` gives
    /// the unreserved ones).
    pub fn for_role(&self, role: &str) -> Resources {
        self.filter(|r| r.role == role)
    }

    /// The unreserved resources.
    pub fn unreserved(&self) -> Resources {
        self.filter(Resource::is_unreserved)
    }

    /// The reserved resources: all of them with `None`, else those reserved
    /// for `role`.
    pub fn reserved(&self, role: Option<&str>) -> Resources {
        self.filter(|r| r.is_reserved() && role.is_none_or(|role| r.role == role))
    }

    /// The reserved resources grouped by reservation role.
    pub fn reservations(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for r in self.items.iter().filter(|r| r.is_reserved()) {
            out.entry(r.role.clone()).or_default().add_resource(r);
        }
        out
    }

    /// The resources allocatable to `role`: unreserved, or reserved for
    /// `role` or one of its ancestors.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| r.is_allocatable_to(role))
    }

    /// The resources with every reservation removed (all become `"*"`),
    /// merged again.
    pub fn flatten(&self) -> Resources {
        self.items
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.role = UNRESERVED_ROLE.to_string();
                r.reservation = None;
                r
            })
            .collect()
    }

    /// Marks every resource as allocated to `role`, merging again. An
    /// invalid role (or `"*"`) leaves the resources unchanged.
    pub fn allocate(&mut self, role: &str) {
        if role == UNRESERVED_ROLE || validate_role(role).is_err() {
            return;
        }
        self.map_allocation(Some(role));
    }

    /// Clears every allocation role, merging again.
    pub fn unallocate(&mut self) {
        self.map_allocation(None);
    }

    fn map_allocation(&mut self, role: Option<&str>) {
        // Resources that all share one allocation role keep distinct keys
        // when it changes, so nothing needs merging.
        let first = self.items.first().map(|r| r.allocation_role.clone());
        if let Some(first) = first {
            if self.items.iter().all(|r| r.allocation_role == first) {
                for r in &mut self.items {
                    r.allocation_role = role.map(str::to_string);
                }
                return;
            }
        }
        let items = std::mem::take(&mut self.items);
        for mut r in items {
            r.allocation_role = role.map(str::to_string);
            self.add_resource(&r);
        }
    }

    /// The allocated resources grouped by allocation role.
    pub fn allocations(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for r in &self.items {
            if let Some(a) = &r.allocation_role {
                out.entry(a.clone()).or_default().add_resource(r);
            }
        }
        out
    }
}

impl fmt::Display for Resources {
    /// Mesos's form: `cpus:4; mem:4096; ports:[31000-32000]`; `{}` if empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return f.write_str("{}");
        }
        for (i, r) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Resources {
    type Err = ResourcesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resources::parse(s)
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Self {
        let mut out = Resources::new();
        for r in iter {
            out.add_resource(&r);
        }
        out
    }
}

impl From<Resource> for Resources {
    fn from(r: Resource) -> Self {
        std::iter::once(r).collect()
    }
}

impl IntoIterator for Resources {
    type Item = Resource;
    type IntoIter = std::vec::IntoIter<Resource>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Resource;
    type IntoIter = std::slice::Iter<'a, Resource>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, rhs: &Resources) {
        self.add_all(rhs);
    }
}

impl AddAssign<&Resource> for Resources {
    fn add_assign(&mut self, rhs: &Resource) {
        self.add_resource(rhs);
    }
}

impl SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, rhs: &Resources) {
        self.subtract_all(rhs);
    }
}

impl SubAssign<&Resource> for Resources {
    fn sub_assign(&mut self, rhs: &Resource) {
        self.subtract_resource(rhs);
    }
}

impl Add<&Resources> for &Resources {
    type Output = Resources;
    fn add(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out.add_all(rhs);
        out
    }
}

impl Sub<&Resources> for &Resources {
    type Output = Resources;
    fn sub(self, rhs: &Resources) -> Resources {
        let mut out = self.clone();
        out.subtract_all(rhs);
        out
    }
}

impl Add for Resources {
    type Output = Resources;
    fn add(mut self, rhs: Resources) -> Resources {
        self.add_all(&rhs);
        self
    }
}

impl Sub for Resources {
    type Output = Resources;
    fn sub(mut self, rhs: Resources) -> Resources {
        self.subtract_all(&rhs);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(s: &str) -> Resources {
        Resources::parse(s).unwrap()
    }

    #[test]
    fn parse_basic() {
        let res =
            r("cpus:4;mem:4096;disk:10000;ports:[31000-32000,40000-40010];gpus:0;zones:{a,b}");
        assert_eq!(res.cpus(), Some(4.0));
        assert_eq!(res.mem(), Some(4096.0));
        assert_eq!(res.disk(), Some(10000.0));
        assert_eq!(res.gpus(), None, "zero scalars are dropped");
        assert_eq!(res.ports(), Some(vec![(31000, 32000), (40000, 40010)]));
        assert_eq!(
            res.set("zones"),
            Some(["a", "b"].iter().map(|s| s.to_string()).collect())
        );
        assert_eq!(res.len(), 5);
    }

    #[test]
    fn parse_roles_and_default_role() {
        let res = r("cpus(prod):2;cpus:1;mem(*):10");
        assert_eq!(res.cpus(), Some(3.0));
        assert_eq!(res.reserved(Some("prod")).cpus(), Some(2.0));
        assert_eq!(res.unreserved().cpus(), Some(1.0));
        assert_eq!(res.unreserved().mem(), Some(10.0));
        let d = Resources::parse_with_role("cpus:1;mem(*):5", "dev").unwrap();
        assert_eq!(d.reserved(Some("dev")).cpus(), Some(1.0));
        assert_eq!(d.unreserved().mem(), Some(5.0));
        assert!(Resources::parse_with_role("cpus:1", "bad role").is_err());
    }

    #[test]
    fn parse_whitespace_and_duplicates_merge() {
        let res = r(" cpus : 1 ; cpus:2.5 ;; ports:[ 1-2 , 3-5 ] ; ports:[10-11]");
        assert_eq!(res.cpus(), Some(3.5));
        assert_eq!(res.ports(), Some(vec![(1, 5), (10, 11)]));
        assert_eq!(res.len(), 2);
    }

    #[test]
    fn display_forms() {
        assert_eq!(
            r("cpus:4;mem:4096;ports:[31000-32000]").to_string(),
            "cpus:4; mem:4096; ports:[31000-32000]"
        );
        assert_eq!(r("cpus(role):1").to_string(), "cpus(role):1");
        assert_eq!(
            r("cpus:0.5;zones:{b,a}").to_string(),
            "cpus:0.5; zones:{a, b}"
        );
        assert_eq!(Resources::new().to_string(), "{}");
        let dynamic = Resource::scalar("cpus", 1.25).with_reservation("prod", Some("alice".into()));
        assert_eq!(dynamic.to_string(), "cpus(prod, alice):1.25");
        let alloc = Resource::scalar("mem", 8.0).with_allocation("web");
        assert_eq!(alloc.to_string(), "mem(allocated: web):8");
    }

    #[test]
    fn round_trips() {
        for text in [
            "cpus:4; mem:4096; ports:[31000-32000, 40000-40010]",
            "cpus(prod):2; cpus:1.5; zones:{a, b}",
            "cpus(prod, alice):1; mem(allocated: web):8",
            "cpus(a/b, p)(allocated: a/b/c):0.001",
            "disk:10000; gpus:1",
        ] {
            let parsed = r(text);
            assert_eq!(parsed.to_string(), text);
            assert_eq!(r(&parsed.to_string()), parsed);
            assert_eq!(text.parse::<Resources>().unwrap(), parsed);
        }
        let one: Resource = "cpus(prod, bob):3".parse().unwrap();
        assert_eq!(
            one.reservation,
            Some(Reservation {
                role: "prod".into(),
                principal: Some("bob".into())
            })
        );
    }

    #[test]
    fn errors() {
        use ResourcesError as E;
        let cases: &[(&str, ResourcesError)] = &[
            ("", E::Empty),
            (" ; ;", E::Empty),
            ("cpus", E::BadToken("cpus".into())),
            ("cpus:1:2", E::BadToken("cpus:1:2".into())),
            ("cpus:abc", E::InvalidScalar("abc".into())),
            ("cpus:nan", E::InvalidScalar("nan".into())),
            ("cpus:inf", E::InvalidScalar("inf".into())),
            ("cpus:-1", E::NegativeScalar("-1".into())),
            ("mem:-0.5", E::NegativeScalar("-0.5".into())),
            ("cpus:1e300", E::ScalarOutOfRange("1e300".into())),
            ("cpus:", E::MissingValue("cpus:".into())),
            ("ports:[5-1]", E::InvalidRange("5-1".into())),
            ("ports:[5]", E::InvalidRange("5".into())),
            ("ports:[a-b]", E::InvalidRange("a-b".into())),
            ("ports:[1-2", E::InvalidRange("[1-2".into())),
            ("ports:[1--2]", E::InvalidRange("1--2".into())),
            ("zones:{a,b", E::InvalidSet("{a,b".into())),
            ("cpus:1]", E::InvalidScalar("1]".into())),
            (":1", E::InvalidName("".into())),
            ("cpus(:1", E::InvalidQualifier("cpus(:1".into())),
            ("cpus(a)):1", E::InvalidQualifier("cpus(a)):1".into())),
            ("cpus(a)x:1", E::InvalidQualifier("cpus(a)x:1".into())),
            ("cpus(a)(b):1", E::InvalidQualifier("cpus(a)(b):1".into())),
            ("cpus():1", E::InvalidRole("".into())),
            ("cpus(-x):1", E::InvalidRole("-x".into())),
            ("cpus(..):1", E::InvalidRole("..".into())),
            ("cpus(a b):1", E::InvalidRole("a b".into())),
            (
                "cpus(*, p):1",
                E::ReservationMismatch("cpus(*, p):1".into()),
            ),
            ("cpus(r, ):1", E::InvalidPrincipal("".into())),
            ("cpus(allocated: *):1", E::InvalidRole("*".into())),
        ];
        for (text, want) in cases {
            assert_eq!(Resources::parse(text).as_ref(), Err(want), "input {text:?}");
        }
        // Error messages name the offending token.
        let msg = Resources::parse("cpus:abc").unwrap_err().to_string();
        assert!(msg.contains("abc"), "{msg}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "(((",
            ")))",
            ":",
            "::",
            "[:]",
            "{:}",
            "a(b(c)):1",
            "ports:[18446744073709551615-18446744073709551615]",
            "ports:[0-18446744073709551615]",
            "ports:[0-18446744073709551616]",
            "x:{,,}",
            "x:[,]",
            "é:1",
            "cpus:1e-9",
            "cpus(a/):1",
            "cpus(/a):1",
            "cpus(a//b):1",
            "\u{0}:1",
        ] {
            let _ = Resources::parse(text);
        }
        let full = r("ports:[0-18446744073709551615]");
        let mut left = full.clone();
        left -= &r("ports:[0-0, 18446744073709551615-18446744073709551615]");
        assert_eq!(left.ports(), Some(vec![(1, u64::MAX - 1)]));
        assert!(full.contains(&left));
    }

    #[test]
    fn add_table() {
        for (a, b, want) in [
            ("cpus:1", "cpus:2", "cpus:3"),
            ("cpus:1", "mem:2", "cpus:1;mem:2"),
            ("cpus(prod):1", "cpus:2", "cpus(prod):1;cpus:2"),
            ("ports:[1-5]", "ports:[6-10]", "ports:[1-10]"),
            ("ports:[1-5]", "ports:[3-8,20-30]", "ports:[1-8,20-30]"),
            ("zones:{a}", "zones:{b,a}", "zones:{a,b}"),
            ("cpus:0.1", "cpus:0.2", "cpus:0.3"),
        ] {
            assert_eq!(&r(a) + &r(b), r(want), "{a} + {b}");
            assert_eq!(r(a) + r(b), r(want), "{a} + {b}");
        }
    }

    #[test]
    fn subtract_table() {
        for (a, b, want) in [
            ("cpus:3", "cpus:1", "cpus:2"),
            ("cpus:1;mem:10", "cpus:1", "mem:10"),
            ("cpus:1;mem:10", "cpus:5", "mem:10"),
            ("cpus(prod):2;cpus:2", "cpus:1", "cpus(prod):2;cpus:1"),
            ("cpus(prod):2", "cpus:1", "cpus(prod):2"),
            ("ports:[1-10]", "ports:[4-6]", "ports:[1-3,7-10]"),
            ("ports:[1-10,20-30]", "ports:[5-25]", "ports:[1-4,26-30]"),
            ("ports:[1-10]", "ports:[0-3,10-12]", "ports:[4-9]"),
            ("ports:[1-10];cpus:1", "ports:[1-10]", "cpus:1"),
            ("zones:{a,b,c}", "zones:{b,x}", "zones:{a,c}"),
            ("cpus:0.3", "cpus:0.1", "cpus:0.2"),
        ] {
            assert_eq!(&r(a) - &r(b), r(want), "{a} - {b}");
        }
        assert!((r("cpus:1") - r("cpus:1")).is_empty());
        assert!((r("zones:{a}") - r("zones:{a}")).is_empty());
    }

    #[test]
    fn contains_table() {
        for (a, b, want) in [
            ("cpus:2", "cpus:1", true),
            ("cpus:1", "cpus:2", false),
            ("cpus:1", "cpus:1", true),
            ("cpus:1;mem:5", "mem:5", true),
            ("cpus:1", "mem:1", false),
            ("cpus(prod):5", "cpus:1", false),
            ("cpus:5", "cpus(prod):1", false),
            ("ports:[1-10]", "ports:[2-3,5-9]", true),
            ("ports:[1-5,7-10]", "ports:[4-8]", false),
            ("zones:{a,b}", "zones:{a}", true),
            ("zones:{a}", "zones:{a,b}", false),
            ("cpus:0.3", "cpus:0.1;cpus:0.2", true),
        ] {
            assert_eq!(r(a).contains(&r(b)), want, "{a} contains {b}");
        }
        assert!(r("cpus:1").contains(&Resources::new()));
        assert!(r("cpus:1").contains_resource(&Resource::scalar("cpus", 0.0)));
        assert!(!r("cpus:1").contains_resource(&Resource::scalar("cpus", -1.0)));
    }

    #[test]
    fn fixed_point_precision() {
        let mut a = Resources::new();
        a += &Resource::scalar("cpus", 0.1);
        a += &Resource::scalar("cpus", 0.2);
        assert_eq!(a, r("cpus:0.3"));
        assert_eq!(a.cpus(), Some(0.3));
        assert_eq!(a.to_string(), "cpus:0.3");
        // Below granularity is rounded away.
        assert_eq!(r("cpus:1.0004"), r("cpus:1"));
        assert_eq!(r("cpus:1.0005").to_string(), "cpus:1.001");
        assert!(r("cpus:0.0001").is_empty());
        let mut b = r("cpus:1");
        for _ in 0..10 {
            b -= &Resource::scalar("cpus", 0.1);
        }
        assert!(b.is_empty(), "{b}");
        assert_eq!(Value::Scalar(0.1 + 0.2), Value::Scalar(0.3));
    }

    #[test]
    fn ranges_coalescing() {
        assert_eq!(
            coalesce_ranges(&[(5, 6), (1, 2), (3, 4), (10, 12), (11, 11)]),
            vec![(1, 6), (10, 12)]
        );
        assert_eq!(coalesce_ranges(&[(3, 1)]), vec![]);
        assert_eq!(
            Resources::from(Resource::ranges("ports", [(8, 9), (1, 7)])).ports(),
            Some(vec![(1, 9)])
        );
        assert_eq!(
            Value::Ranges(vec![(1, 2), (3, 3)]),
            Value::Ranges(vec![(1, 3)])
        );
        assert_eq!(r("ports:[1-2,3-4]").to_string(), "ports:[1-4]");
        // Invalid resources are ignored by add.
        let mut res = Resources::new();
        res += &Resource::ranges("ports", [(5, 1)]);
        res += &Resource::scalar("cpus", -1.0);
        res += &Resource::scalar("cpus", f64::NAN);
        res += &Resource::scalar("bad;name", 1.0);
        assert!(res.is_empty());
    }

    #[test]
    fn roles_filters_flatten_allocate() {
        let res = r("cpus:1;cpus(a):2;cpus(a/b):4;mem(c):8");
        assert_eq!(res.for_role("a").cpus(), Some(2.0));
        assert_eq!(res.for_role("*").cpus(), Some(1.0));
        assert_eq!(res.reserved(None).cpus(), Some(6.0));
        assert_eq!(res.unreserved(), r("cpus:1"));
        assert_eq!(
            res.allocatable_to("a/b/c"),
            r("cpus:1;cpus(a):2;cpus(a/b):4")
        );
        assert_eq!(res.allocatable_to("ab"), r("cpus:1"));
        assert_eq!(res.reservations().len(), 3);
        assert_eq!(res.flatten(), r("cpus:7;mem:8"));
        assert!(
            res.filter(|x| x.name == "mem")
                .iter()
                .all(Resource::is_reserved)
        );

        let mut alloc = res.clone();
        alloc.allocate("web");
        assert!(
            alloc
                .iter()
                .all(|x| x.allocation_role.as_deref() == Some("web"))
        );
        assert_eq!(alloc.allocations().get("web").map(Resources::len), Some(4));
        assert!(!alloc.contains(&res));
        alloc.allocate("*");
        alloc.unallocate();
        assert_eq!(alloc, res);

        let dynamic: Resources = [
            Resource::scalar("cpus", 1.0).with_reservation("a", Some("p".into())),
            Resource::scalar("cpus", 1.0).with_role("a"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            dynamic.len(),
            2,
            "dynamic and static reservations do not merge"
        );
        assert_eq!(
            dynamic.filter(Resource::is_dynamically_reserved).cpus(),
            Some(1.0)
        );
        let bad = Resource {
            reservation: Some(Reservation {
                role: "x".into(),
                principal: None,
            }),
            ..Resource::scalar("cpus", 1.0).with_role("y")
        };
        assert!(matches!(
            bad.validate(),
            Err(ResourcesError::ReservationMismatch(_))
        ));
        let names: Vec<&str> = (&res).into_iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["cpus", "cpus", "cpus", "mem"]);
        assert_eq!(res.clone().into_iter().count(), 4);
    }

    #[test]
    fn allocate_relabels_and_merges() {
        let mut a = r("cpus:1;ports:[1-2]");
        a.allocate("x");
        a.allocate("y");
        assert!(a.iter().all(|x| x.allocation_role.as_deref() == Some("y")));
        assert_eq!(a.len(), 2);
        // Resources allocated to different roles merge once relabelled.
        let mut mixed: Resources = [
            Resource::scalar("cpus", 1.0).with_allocation("x"),
            Resource::scalar("cpus", 2.0).with_allocation("y"),
        ]
        .into_iter()
        .collect();
        assert_eq!(mixed.len(), 2);
        mixed.allocate("z");
        assert_eq!(mixed.len(), 1);
        assert_eq!(mixed.cpus(), Some(3.0));
        mixed.unallocate();
        assert_eq!(mixed, r("cpus:3"));
        // Adding normalizes ranges that are not coalesced yet.
        let mut res = Resources::new();
        res.add_resource(&Resource::ranges("ports", [(4, 6), (1, 2), (3, 3)]));
        assert_eq!(res.ports(), Some(vec![(1, 6)]));
        assert_eq!(
            Resource::scalar("cpus", -1.0).validate(),
            Err(ResourcesError::NegativeScalar("-1".into()))
        );
        assert!(Resource::scalar("cpus", -0.0001).validate().is_ok());
    }

    /// Resources drawn from one of two disjoint domains (for ranges and set
    /// items), so that `(a + b) - b == a` holds exactly.
    fn arb_resources(domain: u64) -> impl Strategy<Value = Resources> {
        let role = prop::sample::select(vec!["*", "prod", "dev/x"]);
        let scalar = (
            prop::sample::select(vec!["cpus", "mem", "disk"]),
            role.clone(),
            0u64..100_000,
        )
            .prop_map(|(n, role, v)| Resource::scalar(n, v as f64 / 1000.0).with_role(role));
        let base = domain * 10_000;
        let ranges = (
            role.clone(),
            prop::collection::vec((0u64..5_000, 0u64..200), 0..4),
        )
            .prop_map(move |(role, rs)| {
                Resource::ranges(
                    "ports",
                    rs.into_iter().map(|(b, l)| (base + b, base + b + l)),
                )
                .with_role(role)
            });
        let set =
            (role, prop::collection::btree_set(0u8..6, 0..4)).prop_map(move |(role, items)| {
                Resource::set("zones", items.into_iter().map(|i| format!("d{domain}i{i}")))
                    .with_role(role)
            });
        prop::collection::vec(prop_oneof![scalar, ranges, set], 0..8)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn prop_add_then_subtract(a in arb_resources(0), b in arb_resources(1)) {
            prop_assert_eq!(&(&a + &b) - &b, a.clone());
        }

        #[test]
        fn prop_contains(a in arb_resources(0), b in arb_resources(0)) {
            prop_assert!(a.contains(&a));
            prop_assert!((&a + &b).contains(&a));
            prop_assert!((&a + &b).contains(&b));
            prop_assert!(a.contains(&(&a - &b)));
            prop_assert!((&a - &a).is_empty());
            prop_assert_eq!(&a + &b, &b + &a);
        }

        #[test]
        fn prop_display_parse_round_trip(a in arb_resources(0)) {
            if !a.is_empty() {
                prop_assert_eq!(Resources::parse(&a.to_string()).unwrap(), a);
            }
        }

        #[test]
        fn prop_parse_never_panics(s in "[a-z0-9():;,\\[\\]{}* .-]{0,40}") {
            let _ = Resources::parse(&s);
        }
    }
}
