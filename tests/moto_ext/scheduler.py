"""EMULATION for the mirrorlab tests only (item 10 of tests/moto_ext/__init__.py): moto 5.2.5
has EventBridge Scheduler's API (CreateSchedule, GetSchedule, ...) but no CloudFormation model
for AWS::Scheduler::Schedule, so a template's schedule was silently not created. This model
creates it through moto's own scheduler backend and deletes it with the stack. Nothing here
runs a schedule: moto never fires one, so what the schedule does at its time (DeleteStack as
its role) is not exercised by any test (docs/cost.md)."""

from __future__ import annotations

from moto.core.common_models import CloudFormationModel
from moto.scheduler.models import scheduler_backends


class Schedule(CloudFormationModel):
    __module__ = "moto_ext.scheduler"  # moto's model registry keys models by module path

    def __init__(self, name: str, group: str, arn: str):
        self.name, self.group, self.arn = name, group, arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str):
        return self.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json["Properties"]
        backend = scheduler_backends[account_id][region_name]
        schedule = backend.create_schedule(
            description=props.get("Description"), end_date=props.get("EndDate"),
            flexible_time_window=props["FlexibleTimeWindow"], group_name=props.get("GroupName"),
            kms_key_arn=props.get("KmsKeyArn"), name=props.get("Name") or resource_name,
            schedule_expression=props["ScheduleExpression"],
            schedule_expression_timezone=props.get("ScheduleExpressionTimezone"),
            start_date=props.get("StartDate"), state=props.get("State", "ENABLED"), target=props["Target"],
            action_after_completion=props.get("ActionAfterCompletion"),
        )
        return cls(schedule.name, props.get("GroupName") or "default", schedule.arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        backend = scheduler_backends[account_id][region_name]
        props = cloudformation_json.get("Properties", {})
        try:
            backend.delete_schedule(props.get("GroupName"), props.get("Name") or resource_name)
        except Exception:  # already gone
            pass

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            scheduler_backends[account_id][region_name].delete_schedule(self.group, self.name)
        except Exception:  # already gone
            pass


def install() -> None:
    """Nothing to patch: defining the model registers it (the caller clears moto's type cache)."""
