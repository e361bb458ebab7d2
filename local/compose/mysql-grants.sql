-- As `make up` grants (local/stack/services.py) and Aurora's master user may: the schema
-- function creates and grants the API's DML-only login.
GRANT ALL ON chat.* TO 'chat'@'%' WITH GRANT OPTION;
GRANT CREATE USER ON *.* TO 'chat'@'%';
