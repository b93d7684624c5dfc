//! An AWS Organization run from the core network owner's account, as a management account:
//! the owner's account moved into an OU of its own, for scope rules by OU.

use crate::{Estate, EstateError, OWNER};

impl Estate {
    /// Creates the organization (the owner's account its management account), an OU named
    /// `name` under the root, and moves the owner's account into it; the OU's id.
    pub async fn owner_in_new_ou(&self, name: &str) -> Result<String, EstateError> {
        let orgs = aws_sdk_organizations::Client::new(&self.owner);
        orgs.create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .map_err(EstateError::sdk("CreateOrganization"))?;
        let roots = orgs
            .list_roots()
            .send()
            .await
            .map_err(EstateError::sdk("ListRoots"))?;
        let root = roots
            .roots()
            .first()
            .and_then(|r| r.id())
            .ok_or_else(|| EstateError::new("ListRoots", "no root"))?
            .to_string();
        let created = orgs
            .create_organizational_unit()
            .parent_id(&root)
            .name(name)
            .send()
            .await
            .map_err(EstateError::sdk("CreateOrganizationalUnit"))?;
        let ou = created
            .organizational_unit()
            .and_then(|o| o.id())
            .ok_or_else(|| EstateError::new("CreateOrganizationalUnit", "no OU id"))?
            .to_string();
        orgs.move_account()
            .account_id(OWNER)
            .source_parent_id(&root)
            .destination_parent_id(&ou)
            .send()
            .await
            .map_err(EstateError::sdk("MoveAccount"))?;
        Ok(ou)
    }
}
