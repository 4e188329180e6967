"""The built-in notebook tools, in the order the model sees them."""

from __future__ import annotations

from agent_kernel.tools.base import Tool


def builtin_tools() -> list[Tool]:
    from agent_kernel.tools.dataframes import describe_dataframe
    from agent_kernel.tools.files import read_file, write_file
    from agent_kernel.tools.memory import forget, recall, remember, search_project
    from agent_kernel.tools.notebook import edit_cell, last_error, notebook_cells
    from agent_kernel.tools.python import propose_cell, run_python
    from agent_kernel.tools.sql import sql
    from agent_kernel.tools.tasks import plan, update_plan
    from agent_kernel.tools.variables import list_variables

    return [
        list_variables,
        describe_dataframe,
        sql,
        run_python,
        propose_cell,
        notebook_cells,
        last_error,
        edit_cell,
        read_file,
        write_file,
        recall,
        remember,
        forget,
        search_project,
        plan,
        update_plan,
    ]
