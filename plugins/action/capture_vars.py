# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The capture role's variables checked on the controller (docs: plugins/modules/capture_vars.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.mirrorlab.vpc.plugins.module_utils import model
from ansible_collections.mirrorlab.vpc.plugins.module_utils.capture_vars import check_role_variables
from ansible_collections.mirrorlab.vpc.plugins.module_utils.validation import Errors


class ActionModule(ActionBase):
    """Reads the capture_* variables of model.CAPTURE from the task's variables, checks them with
    the rules of mirrorlab_capture and returns the capture links. Never touches the target."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset()

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # tmp no longer has any effect
        names = [model.CAPTURE_PREFIX + option.name for option in model.CAPTURE]
        variables = self._templar.template(dict((name, task_vars[name]) for name in names if name in task_vars))
        errors = Errors(model.CAPTURE_PREFIX)
        links = check_role_variables(variables, errors)
        if errors.messages:
            result.update(
                failed=True,
                errors=errors.messages,
                msg="The capture variables are invalid (%d problem%s):\n%s"
                % (len(errors), "" if len(errors) == 1 else "s", "\n".join(errors.messages)),
            )
            return result
        result.update(changed=False, links=links)
        return result
