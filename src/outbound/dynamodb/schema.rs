//! The table definition (`migrations/dynamodb/`) and `migrate`: creates the table, or
//! brings an existing one up to the definition (missing indexes, TTL), idempotently; and the
//! meta item that records the table's shard count.

use std::borrow::Borrow;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ProvisionedThroughput, ScalarAttributeType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use serde::Deserialize;

use super::attrs::{self, n};
use super::errors;
use super::items;
use super::keys::MAX_SHARDS;
use crate::domain::ports::StoreError;

/// The `CreateTable` input, without the table name (it comes from `OM_STORE`).
pub const TABLE_JSON: &str = include_str!("../../../migrations/dynamodb/table.json");
/// The `UpdateTimeToLive` input, without the table name.
pub const TTL_JSON: &str = include_str!("../../../migrations/dynamodb/ttl.json");

/// How long `migrate` waits for the table and its indexes to become active.
const WAIT_LIMIT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TableDef {
    attribute_definitions: Vec<AttrDef>,
    key_schema: Vec<KeyDef>,
    billing_mode: String,
    global_secondary_indexes: Vec<IndexDef>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AttrDef {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct KeyDef {
    attribute_name: String,
    key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct IndexDef {
    index_name: String,
    key_schema: Vec<KeyDef>,
    projection: ProjectionDef,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ProjectionDef {
    projection_type: String,
    #[serde(default)]
    non_key_attributes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TtlDef {
    time_to_live_specification: TtlSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct TtlSpec {
    attribute_name: String,
    enabled: bool,
}

fn bad(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("migrations/dynamodb: {e}"))
}

fn definition() -> Result<(TableDef, TtlSpec), StoreError> {
    let table: TableDef = serde_json::from_str(TABLE_JSON).map_err(bad)?;
    let ttl: TtlDef = serde_json::from_str(TTL_JSON).map_err(bad)?;
    Ok((table, ttl.time_to_live_specification))
}

fn key_schema(keys: &[KeyDef]) -> Result<Vec<KeySchemaElement>, StoreError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(bad)
        })
        .collect()
}

fn attribute(def: &TableDef, name: &str) -> Result<AttributeDefinition, StoreError> {
    let a = def
        .attribute_definitions
        .iter()
        .find(|a| a.attribute_name == name)
        .ok_or_else(|| bad(format!("no attribute definition for `{name}`")))?;
    AttributeDefinition::builder()
        .attribute_name(&a.attribute_name)
        .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
        .build()
        .map_err(bad)
}

fn index(
    ix: &IndexDef,
    throughput: Option<ProvisionedThroughput>,
) -> Result<GlobalSecondaryIndex, StoreError> {
    let projection = Projection::builder()
        .projection_type(ProjectionType::from(ix.projection.projection_type.as_str()))
        .set_non_key_attributes(
            (!ix.projection.non_key_attributes.is_empty())
                .then(|| ix.projection.non_key_attributes.clone()),
        )
        .build();
    GlobalSecondaryIndex::builder()
        .index_name(&ix.index_name)
        .set_key_schema(Some(key_schema(&ix.key_schema)?))
        .projection(projection)
        .set_provisioned_throughput(throughput)
        .build()
        .map_err(bad)
}

async fn describe(client: &Client, table: &str) -> Result<Option<TableDescription>, StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => Ok(out.table),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(errors::sdk("DescribeTable", e)),
    }
}

/// Waits until the table and every index of it are active.
async fn wait_active(client: &Client, table: &str) -> Result<TableDescription, StoreError> {
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let desc = describe(client, table)
            .await?
            .ok_or_else(|| StoreError::Unavailable(format!("table `{table}` disappeared")))?;
        let table_active = desc.table_status() == Some(&TableStatus::Active);
        let building: Vec<&str> = desc
            .global_secondary_indexes()
            .iter()
            .filter(|i| i.index_status().is_some_and(|s| *s != IndexStatus::Active))
            .filter_map(|i| i.index_name())
            .collect();
        if table_active && building.is_empty() {
            return Ok(desc);
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(StoreError::Unavailable(format!(
                "table `{table}` is still not active after {WAIT_LIMIT:?} (indexes building: \
                 {building:?}); run `order-manager migrate` again later"
            )));
        }
        if last_log.elapsed() > Duration::from_secs(30) {
            last_log = Instant::now();
            tracing::info!(table, ?building, "waiting for the table to become active");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Creates the table, or brings an existing one up to the definition: adds missing indexes
/// (one at a time, as DynamoDB requires, waiting for each to be built), enables TTL, and
/// records the shard count. Safe to run any number of times, also by several processes.
pub async fn migrate(
    client: impl Borrow<Client>,
    table: &str,
    shards: u32,
) -> Result<(), StoreError> {
    let client = client.borrow();
    check_shards(shards)?;
    let (def, ttl) = definition()?;
    if describe(client, table).await?.is_none() {
        let attributes = def
            .attribute_definitions
            .iter()
            .map(|a| attribute(&def, &a.attribute_name))
            .collect::<Result<Vec<_>, _>>()?;
        let indexes = def
            .global_secondary_indexes
            .iter()
            .map(|ix| index(ix, None))
            .collect::<Result<Vec<_>, _>>()?;
        let created = client
            .create_table()
            .table_name(table)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&def.key_schema)?))
            .billing_mode(BillingMode::from(def.billing_mode.as_str()))
            .set_global_secondary_indexes(Some(indexes))
            .send()
            .await;
        match created {
            Ok(_) => tracing::info!(table, "created the DynamoDB table"),
            // Someone else is creating it at the same time: wait for theirs.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(e) => return Err(errors::sdk("CreateTable", e)),
        }
    }
    let mut desc = wait_active(client, table).await?;
    for ix in &def.global_secondary_indexes {
        let existing = desc
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(ix.index_name.as_str()));
        if let Some(g) = existing {
            let keys: Vec<KeyDef> = g
                .key_schema()
                .iter()
                .map(|k| KeyDef {
                    attribute_name: k.attribute_name().to_string(),
                    key_type: k.key_type().as_str().to_string(),
                })
                .collect();
            if keys != ix.key_schema {
                return Err(StoreError::Internal(format!(
                    "table `{table}` has an index `{}` with other keys than migrations/dynamodb/table.json; \
                     delete it and run `order-manager migrate` again",
                    ix.index_name
                )));
            }
            continue;
        }
        add_index(client, table, &def, ix, &desc).await?;
        desc = wait_active(client, table).await?;
    }
    enable_ttl(client, table, &ttl).await?;
    record_shards(client, table, shards).await
}

async fn add_index(
    client: &Client,
    table: &str,
    def: &TableDef,
    ix: &IndexDef,
    desc: &TableDescription,
) -> Result<(), StoreError> {
    // A provisioned table needs throughput for the new index too: the table's own. (An
    // on-demand table reports zero throughput, and may lack a billing mode summary.)
    let table_throughput = desc
        .provisioned_throughput()
        .map(|t| {
            (
                t.read_capacity_units().unwrap_or(0),
                t.write_capacity_units().unwrap_or(0),
            )
        })
        .filter(|&(r, w)| r > 0 && w > 0);
    let on_demand = desc.billing_mode_summary().and_then(|b| b.billing_mode())
        == Some(&BillingMode::PayPerRequest);
    let throughput = match table_throughput {
        Some((read, write)) if !on_demand => Some(
            ProvisionedThroughput::builder()
                .read_capacity_units(read)
                .write_capacity_units(write)
                .build()
                .map_err(bad)?,
        ),
        _ => None,
    };
    let gsi = index(ix, throughput)?;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(gsi.index_name())
        .set_key_schema(Some(gsi.key_schema().to_vec()))
        .set_projection(gsi.projection().cloned())
        .set_provisioned_throughput(gsi.provisioned_throughput().cloned())
        .build()
        .map_err(bad)?;
    let attributes = ix
        .key_schema
        .iter()
        .map(|k| attribute(def, &k.attribute_name))
        .collect::<Result<Vec<_>, _>>()?;
    match client
        .update_table()
        .table_name(table)
        .set_attribute_definitions(Some(attributes))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!(table, index = ix.index_name, "adding a missing index");
            Ok(())
        }
        // Another migrate is adding it (or another update is under way): wait, then go on.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(errors::sdk("UpdateTable", e)),
    }
}

async fn enable_ttl(client: &Client, table: &str, ttl: &TtlSpec) -> Result<(), StoreError> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| errors::sdk("DescribeTimeToLive", e))?;
    let current = current.time_to_live_description();
    let status = current.and_then(|d| d.time_to_live_status());
    let attribute = current.and_then(|d| d.attribute_name());
    match status {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            if attribute.is_some_and(|a| a != ttl.attribute_name) {
                return Err(StoreError::Internal(format!(
                    "table `{table}` expires items by `{}`, not by `{}`: disable that TTL first",
                    attribute.unwrap_or_default(),
                    ttl.attribute_name
                )));
            }
            Ok(())
        }
        // Being disabled: DynamoDB refuses changes for up to an hour; say so.
        Some(TimeToLiveStatus::Disabling) => Err(StoreError::Unavailable(format!(
            "the TTL of table `{table}` is being disabled; run `order-manager migrate` again later"
        ))),
        _ => {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(&ttl.attribute_name)
                .enabled(ttl.enabled)
                .build()
                .map_err(bad)?;
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(spec)
                .send()
                .await
                .map_err(|e| errors::sdk("UpdateTimeToLive", e))?;
            tracing::info!(table, attribute = ttl.attribute_name, "enabled TTL");
            Ok(())
        }
    }
}

pub(super) fn check_shards(shards: u32) -> Result<(), StoreError> {
    if (1..=MAX_SHARDS).contains(&shards) {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "OM_DYNAMODB_SHARDS must be 1 to {MAX_SHARDS}, got {shards}"
        )))
    }
}

/// Records the shard count in the table's meta item, or checks it against the recorded one:
/// index keys depend on it, so a table is read and written with one count for good.
pub(super) async fn record_shards(
    client: &Client,
    table: &str,
    shards: u32,
) -> Result<(), StoreError> {
    for _ in 0..2 {
        let got = client
            .get_item()
            .table_name(table)
            .set_key(Some(items::meta_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| errors::sdk("GetItem", e))?;
        if let Some(item) = got.item {
            let recorded: u32 = attrs::num(&item, "shards")?;
            if recorded != shards {
                return Err(StoreError::Internal(format!(
                    "table `{table}` is laid out for {recorded} write shards, but \
                     OM_DYNAMODB_SHARDS is {shards}: a table keeps its shard count for good \
                     (set OM_DYNAMODB_SHARDS={recorded}, or use a new table)"
                )));
            }
            return Ok(());
        }
        let mut item = items::meta_key();
        item.insert("kind".into(), attrs::s("meta"));
        item.insert("shards".into(), n(shards));
        item.insert(
            "created_at".into(),
            n(attrs::micros(crate::domain::order::now())),
        );
        match client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            // Recorded by another process meanwhile: check theirs.
            Err(e) if errors::is_condition_failed(&e) => continue,
            Err(e) => return Err(errors::sdk("PutItem", e)),
        }
    }
    Err(StoreError::Unavailable(format!(
        "could not record the shard count of table `{table}`"
    )))
}

#[cfg(test)]
mod tests {
    use super::super::keys;
    use super::*;

    #[test]
    fn the_definition_matches_the_key_layout() {
        let (def, ttl) = definition().unwrap();
        assert_eq!(ttl.attribute_name, keys::EXPIRES_AT);
        assert!(ttl.enabled);
        assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
        let names: Vec<&str> = def
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        assert_eq!(names, [keys::BY_EVENT, keys::BY_USER, keys::DUE]);
        let expected = [
            (keys::EV_PK, keys::EV_SK),
            (keys::US_PK, keys::US_SK),
            (keys::DUE_PK, keys::DUE_SK),
        ];
        for (ix, (pk, sk)) in def.global_secondary_indexes.iter().zip(expected) {
            assert_eq!(ix.key_schema[0].attribute_name, pk);
            assert_eq!(ix.key_schema[0].key_type, "HASH");
            assert_eq!(ix.key_schema[1].attribute_name, sk);
            assert_eq!(ix.key_schema[1].key_type, "RANGE");
            index(ix, None).unwrap();
            for k in &ix.key_schema {
                attribute(&def, &k.attribute_name).unwrap();
            }
        }
        assert_eq!(def.key_schema[0].attribute_name, keys::PK);
        assert_eq!(def.key_schema[1].attribute_name, keys::SK);
        key_schema(&def.key_schema).unwrap();
    }

    #[test]
    fn shard_counts_are_bounded() {
        assert!(check_shards(0).is_err());
        assert!(check_shards(1).is_ok());
        assert!(check_shards(MAX_SHARDS).is_ok());
        assert!(check_shards(MAX_SHARDS + 1).is_err());
    }
}
