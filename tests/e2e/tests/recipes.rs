//! Recipes through the compiled `api`: the list with the chains that serve each recipe, a
//! recipe trigger read back with its recipe and inputs, and bad requests answered 422 naming the
//! field, storing nothing.

use aurras_e2e::world::{Settings, World, BOB};
use aurras_e2e::ADMIN_TOKEN;
use serde_json::{json, Value};

fn hook() -> Value {
    json!({"webhook": {"url": "https://hooks.example.com/recipes"}})
}

#[tokio::test]
async fn recipes_are_listed_created_read_back_and_bad_inputs_named() {
    let w = World::start(Settings::default()).await.expect("world");
    let app = &w.app;
    let patched = app
        .call(
            "PATCH",
            &format!("/api/sources/{}", w.source),
            Some(ADMIN_TOKEN),
            Some(&json!({"events": ["Balances.Transfer", "Staking.Slashed", "Staking.Chilled"]})),
        )
        .await
        .expect("patch");
    assert_eq!(patched.status, 200, "{}", patched.body);

    let listed = app
        .call("GET", "/api/recipes", None, None)
        .await
        .expect("list");
    assert_eq!(listed.status, 200);
    let recipes = listed.body["recipes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = recipes.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "funds",
            "assets",
            "staking_reward",
            "staking_alert",
            "referendum_new",
            "referendum_outcome",
            "account_security"
        ]
    );
    let alert = &recipes[3];
    assert_eq!(
        alert["chains"],
        json!([{"chain": "paseo", "source": w.source,
                "events": ["Staking.Slashed", "Staking.Chilled"]}])
    );
    assert_eq!(recipes[2]["not_published_by"][0]["chain"], "paseo");

    let body = |recipe: &str, inputs: Value| json!({"source": w.source, "recipe": recipe, "inputs": inputs, "action": hook()});
    let created = app
        .call(
            "POST",
            "/api/triggers",
            None,
            Some(&body("staking_alert", json!({"address": BOB}))),
        )
        .await
        .expect("create");
    assert_eq!(created.status, 201, "{}", created.body);
    let read = w.read(&created.body).await.expect("read");
    assert_eq!(
        read["recipe"],
        json!({"id": "staking_alert", "inputs": {"address": BOB}})
    );
    assert_eq!(
        read["events"],
        json!(["Staking.Slashed", "Staking.Chilled"])
    );
    assert_eq!(read["topic"], "paseo.recipe.staking_alert");
    assert!(
        read.get("message").is_none(),
        "the recipe's sentences stay in the code: {read}"
    );

    let refused = [
        (body("no_such", json!({})), "recipe"),
        (body("staking_alert", json!({})), "inputs.address"),
        (
            body("staking_alert", json!({"address": "5Grw"})),
            "inputs.address",
        ),
        (
            body("staking_alert", json!({"address": BOB, "tracks": [1]})),
            "inputs.tracks",
        ),
        (body("staking_reward", json!({"address": BOB})), "source"),
        (
            json!({"source": w.source, "recipe": "staking_alert", "inputs": {"address": BOB},
                   "event": "Staking.Slashed", "action": hook()}),
            "event",
        ),
        (
            json!({"source": w.source, "recipe": "staking_alert", "inputs": {"address": BOB},
                   "filter": {"all": []}, "action": hook()}),
            "filter",
        ),
    ];
    for (request, field) in refused {
        let answer = app
            .call("POST", "/api/triggers", None, Some(&request))
            .await
            .expect("call");
        assert_eq!(answer.status, 422, "{request}: {}", answer.body);
        assert_eq!(answer.body["error"]["field"], field, "{}", answer.body);
    }
    // Nothing of the refused requests was stored: the operator's lookup of Bob's slashes (the
    // event's lists and its recipes') finds the one trigger.
    let found = app
        .call(
            "GET",
            &format!("/api/topics/paseo.Staking.Slashed/triggers?account={BOB}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await
        .expect("lookup");
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.body["triggers"].as_array().map(Vec::len),
        Some(1),
        "{}",
        found.body
    );
    assert_eq!(found.body["triggers"][0]["id"], created.body["id"]);
}
