//! The checks of a `schedule "name"` block into a [`Schedule`]: its services, its `off`
//! window, its days and its timezone.

use hcl_edit::structure::Block;
use hcl_edit::Span;

use super::Validator;
use crate::schedule::{Days, Schedule, Timezone, Window};
use crate::service_id::ServiceId;

impl Validator<'_> {
    pub(super) fn schedule(
        &mut self,
        b: &Block,
        count: usize,
        existing: &[Schedule],
    ) -> Option<Schedule> {
        let name = match b.labels.as_slice() {
            [l] => l.as_str().to_string(),
            _ => {
                self.at(
                    b.span(),
                    "`schedule` needs one label, like schedule \"night\" { … }",
                );
                return None;
            }
        };
        if existing.iter().any(|s| s.name == name) {
            self.at(b.span(), format!("schedule {name:?} is defined twice"));
        }
        let a = self.attrs(b, &["services", "off", "days", "timezone"]);
        let mut ok = true;
        let mut services = Vec::new();
        match a.get("services") {
            None => {
                self.at(b.span(), format!("schedule {name:?} needs `services`"));
                ok = false;
            }
            Some(attr) => match self.string_list(attr) {
                None => ok = false,
                Some(list) => {
                    for (s, span) in list {
                        match s.parse::<ServiceId>().ok().filter(|n| n.get() <= count) {
                            Some(n) if !services.contains(&n) => services.push(n),
                            Some(_) => {}
                            None => {
                                self.at(
                                    span,
                                    format!("{s:?}: no such service (service_1 … service_{count})"),
                                );
                                ok = false;
                            }
                        }
                    }
                }
            },
        }
        let off = match a.get("off") {
            None => {
                self.at(
                    b.span(),
                    format!("schedule {name:?} needs `off`, like \"00:00-06:00\""),
                );
                None
            }
            Some(attr) => {
                let s = self.string(attr)?;
                match Window::parse(&s) {
                    Ok(w) => Some(w),
                    Err(m) => {
                        self.at(attr.value.span(), format!("`off`: {m}"));
                        None
                    }
                }
            }
        };
        let mut days = Days::all();
        if let Some(attr) = a.get("days") {
            if let Some(list) = self.string_list(attr) {
                let mut d = Days::none();
                for (s, span) in list {
                    if !d.add_name(&s) {
                        self.at(
                            span,
                            format!("{s:?} is not a day: use mon, tue, wed, thu, fri, sat, sun"),
                        );
                        ok = false;
                    }
                }
                days = d;
            } else {
                ok = false;
            }
        }
        let mut timezone = Timezone::Local;
        if let Some(attr) = a.get("timezone") {
            if let Some(s) = self.string(attr) {
                match Timezone::parse(&s) {
                    Ok(t) => timezone = t,
                    Err(m) => {
                        self.at(attr.value.span(), m);
                        ok = false;
                    }
                }
            }
        }
        let off = off?;
        ok.then_some(Schedule {
            name,
            services,
            off,
            days,
            timezone,
        })
    }
}
