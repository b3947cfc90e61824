//! Elastic network interfaces and resource attachments as ACS describes them (awsvpc tasks, trunk
//! ENIs, EBS and other attachments).
//!
//! Shapes only: the agent does not set up awsvpc networking on external instances, but it must still
//! decode, acknowledge and carry these without losing them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::open_enum;

/// An ENI to attach to a task or an instance (`ElasticNetworkInterface`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElasticNetworkInterface {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_association_protocol: Option<InterfaceAssociationProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_tunnel_properties: Option<InterfaceTunnelProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_veth_properties: Option<InterfaceVethProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_vlan_properties: Option<InterfaceVlanProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_addresses: Option<Vec<Ipv4AddressAssignment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_addresses: Option<Vec<Ipv6AddressAssignment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_name_servers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_dns_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_gateway_ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_gateway_ipv6_address: Option<String>,
}

open_enum! {
    /// How an ENI is associated with the instance.
    pub enum InterfaceAssociationProtocol {
        Default => "default",
        Tunnel => "tunnel",
        Veth => "veth",
        Vlan => "vlan",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceTunnelProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceVethProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_interface: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceVlanProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_interface_mac_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipv4AddressAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipv6AddressAssignment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// A resource attachment (`Attachment`): in a task's `attachments` and in `ConfirmAttachmentMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_arn: Option<String>,
    /// e.g. `amazonebs`, `elastic-network-interface`, `serviceconnectdetail`: free-form in the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_properties: Option<Vec<AttachmentProperty>>,
}

/// One `{name, value}` property of an [`Attachment`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentProperty {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Attachment {
    /// The properties as a map (later duplicates win; unnamed ones are skipped).
    pub fn properties(&self) -> BTreeMap<&str, &str> {
        self.attachment_properties
            .iter()
            .flatten()
            .filter_map(|p| Some((p.name.as_deref()?, p.value.as_deref().unwrap_or_default())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eni_uses_the_acs_member_names() {
        let wire = json!({
            "attachmentArn": "arn:eni-attach",
            "ec2Id": "eni-1",
            "macAddress": "0a:00:00:00:00:01",
            "interfaceAssociationProtocol": "vlan",
            "interfaceVlanProperties": {"vlanId": "7", "trunkInterfaceMacAddress": "0a:ff"},
            "ipv4Addresses": [{"primary": true, "privateAddress": "10.0.0.5"}],
            "ipv6Addresses": [{"address": "2001:db8::5"}],
            "subnetGatewayIpv4Address": "10.0.0.1/24"
        });
        let eni: ElasticNetworkInterface = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(eni.ec2_id.as_deref(), Some("eni-1"));
        assert_eq!(
            eni.interface_association_protocol,
            Some(InterfaceAssociationProtocol::Vlan)
        );
        assert_eq!(serde_json::to_value(&eni).unwrap(), wire);
    }

    #[test]
    fn attachment_properties_as_a_map() {
        let attachment: Attachment = serde_json::from_value(json!({
            "attachmentArn": "arn:attachment",
            "attachmentType": "amazonebs",
            "attachmentProperties": [
                {"name": "volumeId", "value": "vol-1"},
                {"name": "deviceName", "value": "/dev/xvdf"},
                {"value": "no-name"}
            ]
        }))
        .unwrap();
        let properties = attachment.properties();
        assert_eq!(properties.get("volumeId"), Some(&"vol-1"));
        assert_eq!(properties.len(), 2);
    }
}
