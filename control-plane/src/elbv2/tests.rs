//! The ELBv2 state driven through its forms, as the AWS CLI sends them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::state::{Scope, State};
use super::{Op, response_xml};
use crate::front::ApiError;
use crate::store::Store;

const SUBNETS: [(&str, &str); 2] = [
    ("Subnets.member.1", "subnet-0123456789abcdef0"),
    ("Subnets.member.2", "subnet-0123456789abcdef1"),
];

fn state() -> State {
    State::new(Scope::new("us-east-1", "123456789012"))
}

fn call(s: &mut State, action: &str, pairs: &[(&str, &str)], now: f64) -> Result<Value, ApiError> {
    let mut params: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    params.insert("Action".into(), action.into());
    params.insert("Version".into(), "2015-12-01".into());
    let (_, op) = Op::parse(&params)?;
    s.apply(op, now)
}

fn ok(s: &mut State, action: &str, pairs: &[(&str, &str)], now: f64) -> Value {
    call(s, action, pairs, now).unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn code(r: Result<Value, ApiError>) -> String {
    r.expect_err("an error").code.as_str().to_string()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A load balancer `web`, a target group `tg` (HTTP 8080) and an HTTP:80 listener forwarding
/// to it: their ARNs.
fn setup(st: &mut State) -> (String, String, String) {
    let mut lb_form = vec![("Name", "web")];
    lb_form.extend(SUBNETS);
    let lb = ok(st, "CreateLoadBalancer", &lb_form, 100.0);
    let lb_arn = s(&lb["LoadBalancers"][0]["LoadBalancerArn"]);
    let tg = ok(
        st,
        "CreateTargetGroup",
        &[
            ("Name", "tg"),
            ("Protocol", "HTTP"),
            ("Port", "8080"),
            ("VpcId", "vpc-0123456789abcdef0"),
        ],
        100.0,
    );
    let tg_arn = s(&tg["TargetGroups"][0]["TargetGroupArn"]);
    let l = ok(
        st,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &tg_arn),
        ],
        100.0,
    );
    let l_arn = s(&l["Listeners"][0]["ListenerArn"]);
    (lb_arn, tg_arn, l_arn)
}

#[test]
fn a_load_balancer_is_created_provisioning_then_active() {
    let mut st = state();
    let mut form = vec![("Name", "web"), ("Scheme", "internal")];
    form.extend(SUBNETS);
    let lb = ok(&mut st, "CreateLoadBalancer", &form, 100.0);
    let lb = &lb["LoadBalancers"][0];
    let arn = s(&lb["LoadBalancerArn"]);
    assert!(
        arn.starts_with(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/"
        ),
        "{arn}"
    );
    assert_eq!(arn.rsplit('/').next().map(str::len), Some(16));
    assert_eq!(lb["State"]["Code"], "provisioning");
    assert!(s(&lb["DNSName"]).starts_with("internal-web-"));
    assert!(s(&lb["DNSName"]).ends_with(".us-east-1.elb.localhost"));
    assert_eq!(lb["AvailabilityZones"][1]["ZoneName"], "us-east-1b");
    assert_eq!(lb["CreatedTime"], "1970-01-01T00:01:40.000Z");
    let d = ok(
        &mut st,
        "DescribeLoadBalancers",
        &[("Names.member.1", "web")],
        101.0,
    );
    assert_eq!(d["LoadBalancers"][0]["State"]["Code"], "active");
    // The same settings again answer the same load balancer; other settings are refused.
    let again = ok(&mut st, "CreateLoadBalancer", &form, 102.0);
    assert_eq!(s(&again["LoadBalancers"][0]["LoadBalancerArn"]), arn);
    let mut other = vec![("Name", "web")];
    other.extend(SUBNETS);
    assert_eq!(
        code(call(&mut st, "CreateLoadBalancer", &other, 103.0)),
        "DuplicateLoadBalancerName"
    );
    assert_eq!(
        code(call(
            &mut st,
            "DescribeLoadBalancers",
            &[(
                "LoadBalancerArns.member.1",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0"
            )],
            104.0
        )),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        code(call(
            &mut st,
            "CreateLoadBalancer",
            &[
                ("Name", "one"),
                ("Subnets.member.1", "subnet-0123456789abcdef0")
            ],
            105.0
        )),
        "ValidationError"
    );
    assert_eq!(
        code(call(
            &mut st,
            "CreateLoadBalancer",
            &[
                ("Name", "bad"),
                ("Subnets.member.1", "subnet-nope"),
                ("Subnets.member.2", "subnet-0123456789abcdef1")
            ],
            105.0
        )),
        "InvalidSubnet"
    );
}

#[test]
fn describe_load_balancers_pages() {
    let mut st = state();
    for name in ["a", "b", "c"] {
        let mut form = vec![("Name", name)];
        form.extend(SUBNETS);
        ok(&mut st, "CreateLoadBalancer", &form, 1.0);
    }
    let p1 = ok(&mut st, "DescribeLoadBalancers", &[("PageSize", "2")], 2.0);
    assert_eq!(p1["LoadBalancers"].as_array().map(Vec::len), Some(2));
    let marker = s(&p1["NextMarker"]);
    let p2 = ok(
        &mut st,
        "DescribeLoadBalancers",
        &[("PageSize", "2"), ("Marker", &marker)],
        2.0,
    );
    assert_eq!(p2["LoadBalancers"][0]["LoadBalancerName"], "c");
    assert!(p2.get("NextMarker").is_none());
}

#[test]
fn listeners_rules_and_target_groups_reference_each_other() {
    let mut st = state();
    let (lb_arn, tg_arn, l_arn) = setup(&mut st);
    let tg = ok(
        &mut st,
        "DescribeTargetGroups",
        &[("Names.member.1", "tg")],
        101.0,
    );
    assert_eq!(
        tg["TargetGroups"][0]["LoadBalancerArns"][0],
        lb_arn.as_str()
    );
    assert_eq!(tg["TargetGroups"][0]["HealthCheckPath"], "/");
    assert_eq!(tg["TargetGroups"][0]["Matcher"]["HttpCode"], "200");
    assert_eq!(
        code(call(
            &mut st,
            "DeleteTargetGroup",
            &[("TargetGroupArn", &tg_arn)],
            101.0
        )),
        "ResourceInUse"
    );
    assert_eq!(
        code(call(
            &mut st,
            "CreateListener",
            &[
                ("LoadBalancerArn", &lb_arn),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("DefaultActions.member.1.Type", "fixed-response"),
                (
                    "DefaultActions.member.1.FixedResponseConfig.StatusCode",
                    "404"
                ),
            ],
            101.0
        )),
        "DuplicateListener"
    );
    let r1 = [
        ("ListenerArn", l_arn.as_str()),
        ("Priority", "10"),
        ("Conditions.member.1.Field", "path-pattern"),
        ("Conditions.member.1.Values.member.1", "/api/*"),
        ("Actions.member.1.Type", "forward"),
        ("Actions.member.1.TargetGroupArn", tg_arn.as_str()),
    ];
    let created = ok(&mut st, "CreateRule", &r1, 102.0);
    let rule_arn = s(&created["Rules"][0]["RuleArn"]);
    assert!(rule_arn.contains(":listener-rule/app/web/"), "{rule_arn}");
    assert_eq!(
        created["Rules"][0]["Conditions"][0]["PathPatternConfig"]["Values"][0],
        "/api/*"
    );
    assert_eq!(
        created["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"],
        1
    );
    assert_eq!(
        code(call(&mut st, "CreateRule", &r1, 103.0)),
        "PriorityInUse"
    );
    let err = call(&mut st, "CreateRule", &r1, 103.0).unwrap_err();
    assert_eq!(err.message, "Priority '10' is currently in use");
    let rules = ok(&mut st, "DescribeRules", &[("ListenerArn", &l_arn)], 104.0);
    assert_eq!(rules["Rules"][0]["Priority"], "10");
    assert_eq!(rules["Rules"][1]["Priority"], "default");
    assert_eq!(rules["Rules"][1]["IsDefault"], true);
    let default_arn = s(&rules["Rules"][1]["RuleArn"]);
    assert_eq!(
        code(call(
            &mut st,
            "DeleteRule",
            &[("RuleArn", &default_arn)],
            104.0
        )),
        "OperationNotPermitted"
    );
    let set = ok(
        &mut st,
        "SetRulePriorities",
        &[
            ("RulePriorities.member.1.RuleArn", &rule_arn),
            ("RulePriorities.member.1.Priority", "5"),
        ],
        105.0,
    );
    assert_eq!(set["Rules"][0]["Priority"], "5");
    // Too many condition values, and an http-header condition without its config: refused.
    let mut many = r1.to_vec();
    many[1] = ("Priority", "20");
    many.extend([
        ("Conditions.member.1.Values.member.2", "/b"),
        ("Conditions.member.1.Values.member.3", "/c"),
        ("Conditions.member.1.Values.member.4", "/d"),
        ("Conditions.member.1.Values.member.5", "/e"),
        ("Conditions.member.1.Values.member.6", "/f"),
    ]);
    assert_eq!(
        code(call(&mut st, "CreateRule", &many, 106.0)),
        "ValidationError"
    );
    let mut header = r1.to_vec();
    header[1] = ("Priority", "21");
    header[2] = ("Conditions.member.1.Field", "http-header");
    assert_eq!(
        code(call(&mut st, "CreateRule", &header, 106.0)),
        "ValidationError"
    );
    // Deleting the load balancer deletes its listener and rules; then the group can go.
    ok(
        &mut st,
        "DeleteLoadBalancer",
        &[("LoadBalancerArn", &lb_arn)],
        107.0,
    );
    assert!(st.listeners.is_empty() && st.rules.is_empty());
    ok(
        &mut st,
        "DeleteTargetGroup",
        &[("TargetGroupArn", &tg_arn)],
        108.0,
    );
    assert!(st.tgs.is_empty());
}

#[test]
fn config_conditions_and_weighted_forwards() {
    let mut st = state();
    let (_, tg_arn, l_arn) = setup(&mut st);
    let tg2 = ok(
        &mut st,
        "CreateTargetGroup",
        &[
            ("Name", "tg2"),
            ("Protocol", "HTTP"),
            ("Port", "8081"),
            ("VpcId", "vpc-0123456789abcdef0"),
        ],
        100.0,
    );
    let tg2_arn = s(&tg2["TargetGroups"][0]["TargetGroupArn"]);
    let r = ok(
        &mut st,
        "CreateRule",
        &[
            ("ListenerArn", &l_arn),
            ("Priority", "1"),
            ("Conditions.member.1.Field", "http-header"),
            (
                "Conditions.member.1.HttpHeaderConfig.HttpHeaderName",
                "X-Env",
            ),
            (
                "Conditions.member.1.HttpHeaderConfig.Values.member.1",
                "blue",
            ),
            ("Conditions.member.2.Field", "query-string"),
            (
                "Conditions.member.2.QueryStringConfig.Values.member.1.Key",
                "v",
            ),
            (
                "Conditions.member.2.QueryStringConfig.Values.member.1.Value",
                "2",
            ),
            ("Conditions.member.3.Field", "source-ip"),
            (
                "Conditions.member.3.SourceIpConfig.Values.member.1",
                "10.0.0.0/8",
            ),
            ("Conditions.member.4.Field", "http-request-method"),
            (
                "Conditions.member.4.HttpRequestMethodConfig.Values.member.1",
                "GET",
            ),
            ("Actions.member.1.Type", "forward"),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                &tg_arn,
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "3",
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn",
                &tg2_arn,
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight",
                "1",
            ),
        ],
        101.0,
    );
    let rule = &r["Rules"][0];
    assert_eq!(
        rule["Conditions"][0]["HttpHeaderConfig"]["HttpHeaderName"],
        "X-Env"
    );
    assert!(rule["Actions"][0].get("TargetGroupArn").is_none());
    assert_eq!(
        rule["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"],
        3
    );
    let tg2 = ok(
        &mut st,
        "DescribeTargetGroups",
        &[("TargetGroupArns.member.1", &tg2_arn)],
        102.0,
    );
    assert_eq!(
        tg2["TargetGroups"][0]["LoadBalancerArns"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let bad_ip = call(
        &mut st,
        "CreateRule",
        &[
            ("ListenerArn", &l_arn),
            ("Priority", "2"),
            ("Conditions.member.1.Field", "source-ip"),
            ("Conditions.member.1.SourceIpConfig.Values.member.1", "nope"),
            ("Actions.member.1.Type", "fixed-response"),
            ("Actions.member.1.FixedResponseConfig.StatusCode", "503"),
        ],
        103.0,
    );
    assert_eq!(code(bad_ip), "ValidationError");
    let redirect = ok(
        &mut st,
        "CreateRule",
        &[
            ("ListenerArn", &l_arn),
            ("Priority", "3"),
            ("Conditions.member.1.Field", "host-header"),
            (
                "Conditions.member.1.HostHeaderConfig.Values.member.1",
                "old.example.com",
            ),
            ("Actions.member.1.Type", "redirect"),
            ("Actions.member.1.RedirectConfig.Host", "new.example.com"),
            ("Actions.member.1.RedirectConfig.StatusCode", "HTTP_301"),
        ],
        104.0,
    );
    assert_eq!(
        redirect["Rules"][0]["Actions"][0]["RedirectConfig"]["Path"],
        "/#{path}"
    );
    assert_eq!(
        redirect["Rules"][0]["Conditions"][0]["Values"][0],
        "old.example.com"
    );
}

#[test]
fn targets_drain_for_the_deregistration_delay_then_are_gone() {
    let mut st = state();
    let (_, tg_arn, _) = setup(&mut st);
    ok(
        &mut st,
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &tg_arn),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "5"),
        ],
        100.0,
    );
    ok(
        &mut st,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "i-0123456789abcdef0"),
            ("Targets.member.2.Id", "i-0123456789abcdef1"),
            ("Targets.member.2.Port", "9090"),
        ],
        100.0,
    );
    let h = ok(
        &mut st,
        "DescribeTargetHealth",
        &[("TargetGroupArn", &tg_arn)],
        101.0,
    );
    let d = &h["TargetHealthDescriptions"];
    assert_eq!(d[0]["Target"]["Port"], 8080);
    assert_eq!(d[0]["HealthCheckPort"], "8080");
    assert_eq!(d[0]["TargetHealth"]["State"], "initial");
    assert_eq!(d[0]["TargetHealth"]["Reason"], "Elb.RegistrationInProgress");
    assert_eq!(d[1]["Target"]["Port"], 9090);
    ok(
        &mut st,
        "DeregisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "i-0123456789abcdef0"),
        ],
        102.0,
    );
    let asked = [
        ("TargetGroupArn", tg_arn.as_str()),
        ("Targets.member.1.Id", "i-0123456789abcdef0"),
    ];
    let h = ok(&mut st, "DescribeTargetHealth", &asked, 106.0);
    assert_eq!(
        h["TargetHealthDescriptions"][0]["TargetHealth"]["State"],
        "draining"
    );
    assert_eq!(
        h["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"],
        "Target.DeregistrationInProgress"
    );
    let h = ok(&mut st, "DescribeTargetHealth", &asked, 107.5);
    assert_eq!(
        h["TargetHealthDescriptions"][0]["TargetHealth"]["State"],
        "unused"
    );
    assert_eq!(
        h["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"],
        "Target.NotRegistered"
    );
    assert_eq!(
        code(call(
            &mut st,
            "DeregisterTargets",
            &[
                ("TargetGroupArn", &tg_arn),
                ("Targets.member.1.Id", "i-0123456789abcdef0")
            ],
            108.0
        )),
        "InvalidTarget"
    );
    assert_eq!(
        code(call(
            &mut st,
            "RegisterTargets",
            &[
                ("TargetGroupArn", &tg_arn),
                ("Targets.member.1.Id", "10.0.0.1")
            ],
            108.0
        )),
        "InvalidTarget"
    );
}

#[test]
fn targets_of_a_group_no_load_balancer_uses_are_unused() {
    let mut st = state();
    let tg = ok(
        &mut st,
        "CreateTargetGroup",
        &[
            ("Name", "net"),
            ("Protocol", "TCP"),
            ("Port", "53"),
            ("VpcId", "vpc-0123456789abcdef0"),
            ("TargetType", "ip"),
        ],
        1.0,
    );
    let t = &tg["TargetGroups"][0];
    assert_eq!(t["HealthCheckProtocol"], "TCP");
    assert_eq!(t["HealthCheckTimeoutSeconds"], 10);
    assert!(t.get("Matcher").is_none());
    let arn = s(&t["TargetGroupArn"]);
    ok(
        &mut st,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &arn),
            ("Targets.member.1.Id", "10.0.0.1"),
        ],
        2.0,
    );
    let h = ok(
        &mut st,
        "DescribeTargetHealth",
        &[("TargetGroupArn", &arn)],
        3.0,
    );
    assert_eq!(
        h["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"],
        "Target.NotInUse"
    );
    // Deregistration from an unused group is immediate.
    ok(
        &mut st,
        "DeregisterTargets",
        &[
            ("TargetGroupArn", &arn),
            ("Targets.member.1.Id", "10.0.0.1"),
        ],
        4.0,
    );
    let h = ok(
        &mut st,
        "DescribeTargetHealth",
        &[("TargetGroupArn", &arn)],
        5.0,
    );
    assert_eq!(
        h["TargetHealthDescriptions"].as_array().map(Vec::len),
        Some(0)
    );
    let attrs = ok(
        &mut st,
        "DescribeTargetGroupAttributes",
        &[("TargetGroupArn", &arn)],
        6.0,
    );
    let preserve = attrs["Attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["Key"] == "preserve_client_ip.enabled"))
        .cloned();
    assert_eq!(
        preserve.map(|p| p["Value"].clone()),
        Some(Value::from("false"))
    );
}

#[test]
fn tags_on_every_kind_of_resource() {
    let mut st = state();
    let (lb_arn, tg_arn, l_arn) = setup(&mut st);
    for arn in [&lb_arn, &tg_arn, &l_arn] {
        ok(
            &mut st,
            "AddTags",
            &[
                ("ResourceArns.member.1", arn),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "web"),
                ("Tags.member.2.Key", "gone"),
            ],
            1.0,
        );
    }
    ok(
        &mut st,
        "RemoveTags",
        &[
            ("ResourceArns.member.1", &lb_arn),
            ("TagKeys.member.1", "gone"),
        ],
        2.0,
    );
    let d = ok(
        &mut st,
        "DescribeTags",
        &[
            ("ResourceArns.member.1", &lb_arn),
            ("ResourceArns.member.2", &tg_arn),
        ],
        3.0,
    );
    assert_eq!(
        d["TagDescriptions"][0]["Tags"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        d["TagDescriptions"][1]["Tags"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        code(call(
            &mut st,
            "AddTags",
            &[
                ("ResourceArns.member.1", &lb_arn),
                ("Tags.member.1.Key", "a"),
                ("Tags.member.2.Key", "a"),
            ],
            4.0
        )),
        "DuplicateTagKeys"
    );
    let missing = lb_arn.replace("/web/", "/nope/");
    assert_eq!(
        code(call(
            &mut st,
            "DescribeTags",
            &[("ResourceArns.member.1", &missing)],
            5.0
        )),
        "LoadBalancerNotFound"
    );
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    let mut st = state();
    let (lb_arn, _, _) = setup(&mut st);
    let _ = st.take_changes();
    let r = call(
        &mut st,
        "CreateListener",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Protocol", "HTTP"),
            ("Port", "81"),
            ("DefaultActions.member.1.Type", "forward"),
            (
                "DefaultActions.member.1.TargetGroupArn",
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/0",
            ),
        ],
        1.0,
    );
    assert_eq!(code(r), "TargetGroupNotFound");
    assert_eq!(st.listeners.len(), 1);
    assert!(st.take_changes().is_empty());
}

#[test]
fn load_balancer_attributes_and_deletion_protection() {
    let mut st = state();
    let (lb_arn, _, _) = setup(&mut st);
    let a = ok(
        &mut st,
        "DescribeLoadBalancerAttributes",
        &[("LoadBalancerArn", &lb_arn)],
        1.0,
    );
    assert!(a["Attributes"].as_array().is_some_and(|a| {
        a.iter()
            .any(|a| a["Key"] == "idle_timeout.timeout_seconds" && a["Value"] == "60")
    }));
    ok(
        &mut st,
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb_arn),
            ("Attributes.member.1.Key", "deletion_protection.enabled"),
            ("Attributes.member.1.Value", "true"),
        ],
        2.0,
    );
    assert_eq!(
        code(call(
            &mut st,
            "DeleteLoadBalancer",
            &[("LoadBalancerArn", &lb_arn)],
            3.0
        )),
        "OperationNotPermitted"
    );
    assert_eq!(
        code(call(
            &mut st,
            "ModifyLoadBalancerAttributes",
            &[
                ("LoadBalancerArn", &lb_arn),
                ("Attributes.member.1.Key", "idle_timeout.timeout_seconds"),
                ("Attributes.member.1.Value", "0"),
            ],
            4.0
        )),
        "InvalidConfigurationRequest"
    );
}

#[test]
fn state_survives_a_reload_of_its_rows() {
    let mut st = state();
    let (lb_arn, tg_arn, l_arn) = setup(&mut st);
    let store = Store::in_memory().unwrap();
    store.apply(&st.take_changes()).unwrap();
    let restored = State::restore(
        Scope::new("us-east-1", "123456789012"),
        &store.load().unwrap(),
    )
    .unwrap();
    let mut restored = restored;
    let l = ok(
        &mut restored,
        "DescribeListeners",
        &[("LoadBalancerArn", &lb_arn)],
        2.0,
    );
    assert_eq!(s(&l["Listeners"][0]["ListenerArn"]), l_arn);
    assert_eq!(
        s(&l["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"]),
        tg_arn
    );
    assert_eq!(restored.rules.len(), 1);
}

#[test]
fn answers_are_query_xml_documents() {
    let x = response_xml(
        "DescribeTags",
        &serde_json::json!({"TagDescriptions": [{"ResourceArn": "a&b", "Tags": []}]}),
        "req-1",
    );
    assert_eq!(
        x,
        r#"<DescribeTagsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTagsResult><TagDescriptions><member><ResourceArn>a&amp;b</ResourceArn><Tags></Tags></member></TagDescriptions></DescribeTagsResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DescribeTagsResponse>"#
    );
    let mut params = BTreeMap::new();
    params.insert("Action".to_string(), "Nope".to_string());
    assert_eq!(
        Op::parse(&params).unwrap_err().code.as_str(),
        "InvalidAction"
    );
}

#[tokio::test]
async fn errors_are_elbv2_error_documents_with_their_statuses() {
    use crate::front::{ErrorCode, Service};

    let svc = super::Elbv2(super::Elbv2Handle::spawn(
        state(),
        Store::in_memory().unwrap(),
    ));
    let body = |resp: axum::response::Response| async move {
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    };
    let e = super::error::Code::PriorityInUse.err("Priority '5' is currently in use");
    let (status, xml) = body(svc.error("req-1", e)).await;
    assert_eq!(status, 400);
    assert_eq!(
        xml,
        r#"<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>PriorityInUse</Code><Message>Priority &apos;5&apos; is currently in use</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"#
    );
    let e = ApiError::new(ErrorCode::UnrecognizedClientException, "unknown key");
    let (status, xml) = body(svc.error("req-2", e)).await;
    assert_eq!(status, 403);
    assert!(xml.contains("<Code>InvalidClientTokenId</Code>"), "{xml}");
}

#[test]
fn target_health_reports_what_the_health_checks_published() {
    use super::health::{HealthReason, HealthState, Observed};
    let mut st = state();
    let (_, tg_arn, _) = setup(&mut st);
    ok(
        &mut st,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "i-0123456789abcdef0"),
            ("Targets.member.2.Id", "mi-0123456789abcdef0"),
            ("Targets.member.2.Port", "9090"),
        ],
        101.0,
    );
    let health = |st: &mut State| {
        let h = ok(
            st,
            "DescribeTargetHealth",
            &[("TargetGroupArn", &tg_arn)],
            102.0,
        );
        h["TargetHealthDescriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["TargetHealth"].clone())
            .collect::<Vec<_>>()
    };
    // No data plane has seen them: registration in progress.
    let h = health(&mut st);
    assert_eq!(h[0]["State"], "initial");
    assert_eq!(h[0]["Reason"], "Elb.RegistrationInProgress");
    // What the checkers publish is what DescribeTargetHealth answers.
    let healthy = st
        .health
        .slot(&(tg_arn.clone(), "i-0123456789abcdef0".into(), 8080), true);
    healthy.publish(&Observed {
        state: HealthState::Healthy,
        reason: None,
        code: None,
    });
    let sick = st
        .health
        .slot(&(tg_arn.clone(), "mi-0123456789abcdef0".into(), 9090), true);
    sick.publish(&Observed {
        state: HealthState::Unhealthy,
        reason: Some(HealthReason::ResponseCodeMismatch),
        code: Some(502),
    });
    let h = health(&mut st);
    assert_eq!(h[0]["State"], "healthy");
    assert!(h[0].get("Reason").is_none() && h[0].get("Description").is_none());
    assert_eq!(h[1]["State"], "unhealthy");
    assert_eq!(h[1]["Reason"], "Target.ResponseCodeMismatch");
    assert_eq!(
        h[1]["Description"],
        "Health checks failed with these codes: [502]"
    );
    let xml = response_xml(
        "DescribeTargetHealth",
        &ok(
            &mut st,
            "DescribeTargetHealth",
            &[("TargetGroupArn", &tg_arn)],
            103.0,
        ),
        "r",
    );
    assert!(
        xml.contains("<State>healthy</State></TargetHealth>"),
        "{xml}"
    );
}

#[test]
fn the_plan_carries_listeners_rules_and_resolved_targets_with_their_checks() {
    use super::health::HealthBoard;
    use super::plan::{Binding, Desired, Plan, Resolver, lb_address};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::sync::Arc;
    let mut st = state();
    let (lb_arn, tg_arn, l_arn) = setup(&mut st);
    ok(
        &mut st,
        "ModifyTargetGroup",
        &[("TargetGroupArn", &tg_arn), ("HealthCheckPort", "9000")],
        101.0,
    );
    ok(
        &mut st,
        "RegisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "i-0123456789abcdef0"),
            ("Targets.member.2.Id", "i-0123456789abcdef1"),
            ("Targets.member.2.Port", "8081"),
        ],
        101.0,
    );
    ok(
        &mut st,
        "DeregisterTargets",
        &[
            ("TargetGroupArn", &tg_arn),
            ("Targets.member.1.Id", "i-0123456789abcdef1"),
            ("Targets.member.1.Port", "8081"),
        ],
        102.0,
    );
    let resolve: Resolver = Arc::new(|id: &str| {
        (id == "i-0123456789abcdef0").then_some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)))
    });
    let board = HealthBoard::default();
    let plan = Plan::build(&Desired::of(&st), &resolve, &board);
    let l = &plan.listeners[&l_arn];
    assert_eq!((l.port, l.address), (80, lb_address(&lb_arn)));
    assert!(l.dns_name.ends_with(".us-east-1.elb.localhost"));
    assert_eq!(l.idle_timeout, std::time::Duration::from_secs(60));
    assert_eq!(l.rules.len(), 1);
    let g = &plan.groups[&tg_arn];
    let live = &g.targets[0];
    assert_eq!(live.addr, Some(SocketAddr::from(([10, 0, 0, 9], 8080))));
    let check = live.check.as_ref().expect("a checked target");
    assert_eq!(check.addr, SocketAddr::from(([10, 0, 0, 9], 9000)));
    assert_eq!(check.http.as_ref().map(|(p, _)| p.as_str()), Some("/"));
    let draining = &g.targets[1];
    assert!(draining.draining && draining.check.is_none() && draining.addr.is_none());
    assert_eq!(plan.checks().len(), 1);
    let sockets = plan.sockets();
    assert_eq!(
        sockets.get(&SocketAddr::from(([127, 0, 0, 1], 80))),
        Some(&Binding::SharedHttp(80))
    );
    assert_eq!(
        sockets.get(&SocketAddr::new(IpAddr::V4(lb_address(&lb_arn)), 80)),
        Some(&Binding::Listener(l_arn.clone()))
    );
    // The board holds a slot per carried target, not yet routable (checks pending).
    let slot = board
        .get(&(tg_arn.clone(), "i-0123456789abcdef0".into(), 8080))
        .expect("a slot");
    assert!(!slot.routable());
}
