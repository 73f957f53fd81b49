"""Support code for the end-to-end suite: processes, HTTP exchange log, scripted browser, SDK adapter."""
