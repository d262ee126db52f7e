"""Alarms as records with a lifecycle (open -> acknowledged -> resolved): the device's
own alarms and the ones derived from the bins' state, evaluated in one place
(`fenlei alarms`), and what people do with them through the API and the pages."""
