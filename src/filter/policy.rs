//! What happens to a request, given what this VM has: add the headers, or
//! follow the no-headers policy (`on_missing`). Pure decisions; the HTTP
//! context and the root context carry them out.
//!
//! One rule holds whatever `on_missing` says: while Envoy has never had
//! headers and the first provider call is still out (nothing failed yet), a
//! request waits for it, at most `wait_timeout`. So the first requests after
//! Envoy starts carry the headers when the provider answers promptly.

/// `on_missing`: what to do while there are no headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    /// Forward the request without the provider's headers.
    Continue,
    /// Answer locally with `deny_status`.
    Deny,
    /// Hold the request until headers arrive or `wait_timeout` passes, then deny.
    Wait,
}

/// `target`: which headers the set is added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Request,
    Response,
    Both,
}

impl Target {
    pub fn request(self) -> bool {
        self != Target::Response
    }

    pub fn response(self) -> bool {
        self != Target::Request
    }
}

/// What this VM has to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// A fetched set, within its staleness bound.
    Ready,
    /// No good fetch yet. `pending` while the first call is out and nothing has failed.
    NotFetched { pending: bool },
    /// The last good set is past its expiry plus `max_stale`.
    Expired,
}

/// Why a request was answered locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NotFetched,
    Expired,
    WaitTimeout,
    /// The VM already holds its most requests (held.rs `MAX_HELD`).
    HeldLimit,
}

impl Denial {
    /// The value of the response header `x-header-augmenter-denied`.
    pub fn code(self) -> &'static str {
        match self {
            Denial::NotFetched => "not-fetched",
            Denial::Expired => "expired",
            Denial::WaitTimeout => "wait-timeout",
            Denial::HeldLimit => "held-limit",
        }
    }

    /// The response body.
    pub fn body(self) -> &'static str {
        match self {
            Denial::NotFetched => "header-augmenter: no headers from the provider yet\n",
            Denial::Expired => "header-augmenter: the provider's headers expired\n",
            Denial::WaitTimeout => {
                "header-augmenter: no headers from the provider within wait_timeout\n"
            }
            Denial::HeldLimit => "header-augmenter: too many requests waiting for headers\n",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Add the fetched set (and the static headers).
    Apply,
    /// Forward without the provider's headers (the static headers still apply).
    Continue,
    Deny(Denial),
    Hold,
}

/// A request as it arrives.
pub fn on_request(available: Availability, on_missing: OnMissing) -> Decision {
    match (available, on_missing) {
        (Availability::Ready, _) => Decision::Apply,
        (Availability::NotFetched { pending: true }, _) | (_, OnMissing::Wait) => Decision::Hold,
        (_, OnMissing::Continue) => Decision::Continue,
        (Availability::Expired, OnMissing::Deny) => Decision::Deny(Denial::Expired),
        (Availability::NotFetched { .. }, OnMissing::Deny) => Decision::Deny(Denial::NotFetched),
    }
}

/// What a request gets when several providers decide on it, from each
/// provider's decision in order (`None`: the request is not for its
/// destinations):
///
/// | the providers in scope decided        | the request           |
/// |---------------------------------------|-----------------------|
/// | some `Deny`                           | denied, by the first: its `deny_status` and reason |
/// | no `Deny`, some `Hold`                | held, until each has headers or lets it go |
/// | only `Apply` and `Continue`, or none  | goes on, each provider adding its own |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combined {
    /// Denied by the provider at this index.
    Deny(usize),
    Hold,
    Go,
}

pub fn combine(decisions: &[Option<Decision>]) -> Combined {
    let mut hold = false;
    for (i, d) in decisions.iter().enumerate() {
        match d {
            Some(Decision::Deny(_)) => return Combined::Deny(i),
            Some(Decision::Hold) => hold = true,
            _ => {}
        }
    }
    match hold {
        true => Combined::Hold,
        false => Combined::Go,
    }
}

/// A held request, looked at again; `None` keeps holding it. `timed_out` once
/// it has waited `wait_timeout`.
pub fn on_held(
    available: Availability,
    on_missing: OnMissing,
    timed_out: bool,
) -> Option<Decision> {
    if available == Availability::Ready {
        return Some(Decision::Apply);
    }
    let pending = available == (Availability::NotFetched { pending: true });
    if !timed_out && (pending || on_missing == OnMissing::Wait) {
        return None;
    }
    Some(match on_missing {
        OnMissing::Continue => Decision::Continue,
        _ if timed_out => Decision::Deny(Denial::WaitTimeout),
        _ => on_request(available, on_missing),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Availability::*;
    use OnMissing::*;

    const PENDING: Availability = NotFetched { pending: true };
    const FAILED: Availability = NotFetched { pending: false };

    #[test]
    fn ready_headers_are_applied_whatever_the_policy() {
        for p in [Continue, Deny, Wait] {
            assert_eq!(on_request(Ready, p), Decision::Apply);
            assert_eq!(on_held(Ready, p, false), Some(Decision::Apply));
            assert_eq!(on_held(Ready, p, true), Some(Decision::Apply));
        }
    }

    #[test]
    fn a_pending_first_fetch_holds_every_request() {
        for p in [Continue, Deny, Wait] {
            assert_eq!(on_request(PENDING, p), Decision::Hold);
            assert_eq!(on_held(PENDING, p, false), None);
        }
    }

    #[test]
    fn the_policy_applies_once_a_fetch_failed_or_headers_expired() {
        assert_eq!(on_request(FAILED, Continue), Decision::Continue);
        assert_eq!(on_request(Expired, Continue), Decision::Continue);
        assert_eq!(on_request(FAILED, Deny), Decision::Deny(Denial::NotFetched));
        assert_eq!(on_request(Expired, Deny), Decision::Deny(Denial::Expired));
        assert_eq!(on_request(FAILED, Wait), Decision::Hold);
        assert_eq!(on_request(Expired, Wait), Decision::Hold);
    }

    #[test]
    fn held_requests_are_released_by_the_policy() {
        // The first fetch failed while requests waited for it.
        assert_eq!(on_held(FAILED, Continue, false), Some(Decision::Continue));
        assert_eq!(
            on_held(FAILED, Deny, false),
            Some(Decision::Deny(Denial::NotFetched))
        );
        assert_eq!(on_held(FAILED, Wait, false), None); // wait keeps waiting
                                                        // Timeouts.
        assert_eq!(on_held(PENDING, Continue, true), Some(Decision::Continue));
        assert_eq!(
            on_held(PENDING, Deny, true),
            Some(Decision::Deny(Denial::WaitTimeout))
        );
        assert_eq!(
            on_held(FAILED, Wait, true),
            Some(Decision::Deny(Denial::WaitTimeout))
        );
        assert_eq!(
            on_held(Expired, Wait, true),
            Some(Decision::Deny(Denial::WaitTimeout))
        );
    }

    #[test]
    fn a_request_as_it_arrives_is_a_held_one_that_has_not_waited() {
        for a in [Ready, PENDING, FAILED, Expired] {
            for p in [Continue, Deny, Wait] {
                let held = on_held(a, p, false).unwrap_or(Decision::Hold);
                assert_eq!(held, on_request(a, p), "{a:?} {p:?}");
            }
        }
    }

    #[test]
    fn several_providers_combine_by_the_table() {
        let deny = Some(Decision::Deny(Denial::Expired));
        let (apply, go_on, hold) = (
            Some(Decision::Apply),
            Some(Decision::Continue),
            Some(Decision::Hold),
        );
        let cases: [(&[Option<Decision>], Combined); 9] = [
            (&[], Combined::Go),
            (&[None, None], Combined::Go),
            (&[apply, None, go_on], Combined::Go),
            (&[apply, hold], Combined::Hold),
            (&[None, hold, go_on], Combined::Hold),
            (&[hold, deny], Combined::Deny(1)),
            (&[apply, deny, deny], Combined::Deny(1)),
            (&[deny, hold, apply], Combined::Deny(0)),
            (&[None, deny], Combined::Deny(1)),
        ];
        for (decisions, combined) in cases {
            assert_eq!(combine(decisions), combined, "{decisions:?}");
        }
    }

    #[test]
    fn targets() {
        assert!(Target::Request.request() && !Target::Request.response());
        assert!(!Target::Response.request() && Target::Response.response());
        assert!(Target::Both.request() && Target::Both.response());
    }

    #[test]
    fn denials_say_why() {
        assert_eq!(Denial::Expired.code(), "expired");
        assert!(Denial::WaitTimeout.body().contains("wait_timeout"));
    }
}
