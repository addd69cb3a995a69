"""The hostile-input catalogue (issue 13): each module covers one area; every test is one try."""
